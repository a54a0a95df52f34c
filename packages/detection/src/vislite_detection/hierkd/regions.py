"""Box crops for the CLIP teacher: truncate, crop inclusive, aspect-preserving bicubic resize, zero pad to 224."""

from __future__ import annotations

import torch
import torch.nn.functional as F

CROP_SIZE = 224


def resize_pad(region: torch.Tensor, n_px: int = CROP_SIZE) -> torch.Tensor:
    """(1, 3, h, w) → (1, 3, n_px, n_px): scale s = min(n_px/h, n_px/w), sizes max(1, int(side·s)), bicubic
    (align_corners=False, no antialias), zero padding with the odd extra pixel on the left / top."""
    h, w = region.shape[-2:]
    scale = min(n_px / h, n_px / w)
    nh, nw = max(1, int(h * scale)), max(1, int(w * scale))
    out = F.interpolate(region, size=(nh, nw), mode="bicubic", align_corners=False)
    w_p, h_p = n_px - nw, n_px - nh
    pad = (w_p // 2 + w_p % 2, w_p // 2, h_p // 2 + h_p % 2, h_p // 2)  # (left, right, top, bottom)
    return F.pad(out, pad, mode="constant", value=0.0)


def extract_regions(img: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Crops (N, 3, 224, 224) of the (3, H, W) image ``img`` for ``boxes`` (N, 4) x1y1x2y2 in pixels.

    Boxes are truncated with ``.int()``, negatives set to 0, and the region ``img[:, y1:y2+1, x1:x2+1]`` is
    resized by :func:`resize_pad`. No CLIP mean/std normalisation is applied (the detector input is used).
    """
    if img.dim() != 3:
        raise ValueError(f"img must be (3, H, W), got {tuple(img.shape)}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4), got {tuple(boxes.shape)}")
    ints = boxes.int().clamp(min=0).tolist()
    crops = []
    for x1, y1, x2, y2 in ints:
        region = img[:, y1 : y2 + 1, x1 : x2 + 1].unsqueeze(0)  # (1, 3, h, w)
        if region.shape[-1] == 0 or region.shape[-2] == 0:
            raise ValueError(
                f"box ({x1}, {y1}, {x2}, {y2}) gives an empty region in an image of size {tuple(img.shape[-2:])}"
            )
        crops.append(resize_pad(region))
    if not crops:
        return img.new_zeros((0, img.shape[0], CROP_SIZE, CROP_SIZE))
    return torch.cat(crops, dim=0)
