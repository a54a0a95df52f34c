"""RDSNet's cropping module: box edges in mask pixels and the crop window they define.

mmdetection v1.0 conventions: the padding is a fraction of the box size counted with
"+1" (``x2 - x1 + 1``), at least one pixel, and the padded edges are truncated to
integers; the window holds pixel columns ``x1 <= j < x2`` (pixel column j is at x = j).
"""

from __future__ import annotations

import torch
from torch import Tensor


def sanitize_coordinates(
    a: Tensor, b: Tensor, size: int, padding: float = 0.0, *, cast: bool = True
) -> tuple[Tensor, Tensor]:
    """Order two edge coordinates, pad them and clip them to ``[0, size]``.

    ``a``, ``b``: [N] edge coordinates in mask pixels. A padding in (0, 1) is a fraction of
    ``(hi - lo + 1)`` (computed in float32, as the official code does) and at least 1 pixel;
    a padding >= 1 is in pixels. With ``cast`` the edges are truncated towards zero (``long``).
    """
    lo = torch.minimum(a, b)
    hi = torch.maximum(a, b)
    if padding != 0:
        if 0 < padding < 1:
            pad = torch.clamp(padding * (hi - lo + 1).float(), min=1).to(lo.dtype)
        else:
            pad = lo.new_tensor(padding)
        lo = torch.clamp(lo - pad, min=0)
        hi = torch.clamp(hi + pad, max=size)
    if cast:
        return lo.long(), hi.long()
    return lo, hi


def crop_window(boxes: Tensor, height: int, width: int, padding: float | None) -> Tensor:
    """Boolean crop windows [N, height, width] of ``boxes`` [N, 4] (x1, y1, x2, y2, mask pixels).

    ``padding=None`` keeps every pixel (no crop).
    """
    n = boxes.shape[0]
    if padding is None:
        return torch.ones(n, height, width, dtype=torch.bool, device=boxes.device)
    x1, x2 = sanitize_coordinates(boxes[:, 0], boxes[:, 2], width, padding)
    y1, y2 = sanitize_coordinates(boxes[:, 1], boxes[:, 3], height, padding)
    cols = torch.arange(width, device=boxes.device).view(1, 1, width)
    rows = torch.arange(height, device=boxes.device).view(1, height, 1)
    inside_x = (cols >= x1.view(n, 1, 1)) & (cols < x2.view(n, 1, 1))  # [N, 1, W]
    inside_y = (rows >= y1.view(n, 1, 1)) & (rows < y2.view(n, 1, 1))  # [N, H, 1]
    return inside_x & inside_y
