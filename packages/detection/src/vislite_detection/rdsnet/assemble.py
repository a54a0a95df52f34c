"""RDSNet's test-time mask assembly: correlate, unpad, rescale, softmax, crop, binarise."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from vislite_detection.rdsnet.correlation import correlate
from vislite_detection.rdsnet.crop import crop_window


def assemble_masks(
    pixel_reps: Tensor,
    obj_reps: Tensor,
    boxes: Tensor,
    *,
    pad_shape: Sequence[int],
    img_shape: Sequence[int],
    ori_shape: Sequence[int] | None = None,
    padding: float | None = 0.1,
    mask_thr_binary: float | None = None,
) -> Tensor:
    """Instance masks [N, H', W'] of one image.

    ``pixel_reps`` [D, h, w] (the padded image at the mask stride), ``obj_reps`` [N, 2, D],
    ``boxes`` [N, 4] x1, y1, x2, y2 in the output frame (``ori_shape`` when given, else
    ``img_shape``). Logits are resized to ``pad_shape`` (bilinear, align_corners=False), sliced
    to ``img_shape``, optionally resized to ``ori_shape`` (bilinear, align_corners=True); the
    foreground softmax is cropped to each box padded by ``padding`` and, with
    ``mask_thr_binary``, binarised as ``prob > thr`` (bool). Else the cropped probabilities.
    """
    pad_h, pad_w = int(pad_shape[0]), int(pad_shape[1])
    img_h, img_w = int(img_shape[0]), int(img_shape[1])
    if img_h > pad_h or img_w > pad_w:
        raise ValueError(f"assemble_masks: img_shape {img_h}x{img_w} exceeds pad_shape {pad_h}x{pad_w}")
    if boxes.dim() != 2 or boxes.shape[1] < 4 or boxes.shape[0] != obj_reps.shape[0]:
        raise ValueError(f"assemble_masks: expected boxes [{obj_reps.shape[0]}, 4], got {tuple(boxes.shape)}")
    logits = correlate(pixel_reps, obj_reps)  # [N, 2, h, w]
    if tuple(logits.shape[-2:]) != (pad_h, pad_w) and logits.shape[0] > 0:
        logits = F.interpolate(logits, size=(pad_h, pad_w), mode="bilinear", align_corners=False)
    elif logits.shape[0] == 0:
        logits = logits.new_zeros(0, 2, pad_h, pad_w)
    logits = logits[:, :, :img_h, :img_w]
    if ori_shape is not None:
        out_h, out_w = int(ori_shape[0]), int(ori_shape[1])
        if logits.shape[0] > 0:
            logits = F.interpolate(logits, size=(out_h, out_w), mode="bilinear", align_corners=True)
        else:
            logits = logits.new_zeros(0, 2, out_h, out_w)
    probs = logits.softmax(dim=1)[:, 1]  # [N, H', W'] foreground probability
    window = crop_window(boxes[:, :4].to(probs.dtype), probs.shape[1], probs.shape[2], padding)
    probs = probs * window.to(probs.dtype)
    if mask_thr_binary is not None:
        return probs > mask_thr_binary
    return probs
