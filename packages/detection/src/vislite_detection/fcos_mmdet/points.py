"""mmdetection 2.x FCOS geometry: strides, regress ranges and the location of every feature-map point."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

STRIDES: tuple[int, ...] = (8, 16, 32, 64, 128)
"""Strides of P3-P7."""

INF = 1e8
"""mmdetection's ``INF``: the open end of the last regress range and the area of an unmatched (point, box)."""

REGRESS_RANGES: tuple[tuple[float, float], ...] = ((-1, 64), (64, 128), (128, 256), (256, 512), (512, INF))
"""Per level, the inclusive range of max(l, t, r, b) (pixels) a point of that level may regress."""


def check_levels(feature_sizes: Sequence[Sequence[int]], strides: Sequence[int]) -> list[tuple[int, int]]:
    """``feature_sizes`` as ``(H, W)`` integer pairs; level l has ``strides[l]`` (fewer levels than strides use the
    first ones, as mmdetection's ``zip``); ValueError for more levels than strides or a malformed size."""
    if len(feature_sizes) > len(strides):
        raise ValueError(f"got {len(feature_sizes)} feature sizes but only {len(strides)} strides {tuple(strides)}")
    sizes = []
    for level, size in enumerate(feature_sizes):
        if len(size) != 2 or any(int(v) < 0 for v in size):
            raise ValueError(f"feature_sizes[{level}] must be (H, W) with H, W >= 0, got {tuple(size)}")
        sizes.append((int(size[0]), int(size[1])))
    return sizes


def fcos_points(
    feature_sizes: Sequence[Sequence[int]],
    strides: Sequence[int] = STRIDES,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> list[Tensor]:
    """One ``[H_l * W_l, 2]`` tensor of (x, y) per level: the point at row i, column j of a level of stride s is
    (j * s + s // 2, i * s + s // 2), rows in order (row-major), as mmdetection 2.x's ``FCOSHead.get_points``.
    Level l uses ``strides[l]``."""
    points = []
    for (height, width), stride in zip(check_levels(feature_sizes, strides), strides):
        xs = torch.arange(width, device=device).to(dtype)
        ys = torch.arange(height, device=device).to(dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # [H, W] each
        level = torch.stack((grid_x.reshape(-1) * stride, grid_y.reshape(-1) * stride), dim=-1)  # [H*W, 2]
        points.append(level + int(stride) // 2)
    return points
