"""Gaussian centre targets on the score grid (CenterNet / OSTrack ``generate_heatmap``)."""

from __future__ import annotations

import numpy as np
import torch


def gaussian_radius(width: torch.Tensor, height: torch.Tensor, min_overlap: float = 0.7) -> torch.Tensor:
    """CornerNet's radius in its widely used "bug version" (each root divided by 2, not ``2a``), kept as OSTrack.

    The minimum of the three radii for which a box shifted by that radius still has IoU ``min_overlap``.
    """
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_kernel(radius: int) -> torch.Tensor:
    """``(2r+1, 2r+1)`` Gaussian with sigma ``(2r+1)/6``, peak 1, values below ``eps * max`` set to 0."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    sigma = (2 * radius + 1) / 6
    kernel = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return torch.from_numpy(kernel).float()


def draw_gaussian(heatmap: torch.Tensor, centre: tuple[int, int], radius: int) -> None:
    """Max-blend a Gaussian of ``radius`` centred at integer cell ``centre`` (x, y) into ``heatmap`` ``[g, g]``."""
    kernel = gaussian_kernel(radius)
    x, y = centre
    height, width = heatmap.shape
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    if min(left + right, top + bottom) <= 0 or x < 0 or y < 0:
        return
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = kernel[radius - top : radius + bottom, radius - left : radius + right]
    if min(region.shape) > 0 and min(patch.shape) > 0:
        heatmap[y - top : y + bottom, x - left : x + right] = torch.maximum(region, patch)


def centre_heatmaps(boxes: torch.Tensor, grid: int, min_overlap: float = 0.7) -> torch.Tensor:
    """Targets ``[B, 1, g, g]`` for boxes ``[B, 4]`` (x, y, w, h normalised to the search crop).

    The centre cell is ``round((x + w/2) * g)``, ``round((y + h/2) * g)``; the radius is the integer part of
    :func:`gaussian_radius` of the box size in cells (clamped at 0).
    """
    cells = boxes.detach().float().cpu() * grid
    wh = cells[:, 2:]
    centres = (cells[:, :2] + wh / 2).round().int()
    radii = gaussian_radius(wh[:, 0], wh[:, 1], min_overlap).clamp_min(0).int()
    maps = torch.zeros(boxes.shape[0], grid, grid)
    for i in range(boxes.shape[0]):
        draw_gaussian(maps[i], (int(centres[i, 0]), int(centres[i, 1])), int(radii[i]))
    return maps.unsqueeze(1).to(boxes.device)  # [B, 1, g, g]
