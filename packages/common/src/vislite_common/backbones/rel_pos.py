"""BEiT-style relative position bias tables: the index layout, sub-grid indices and the table resize mmseg uses.

A table for a ``Wh x Ww`` window has ``(2Wh - 1)(2Ww - 1) + 3`` rows (732 for 14 x 14) and one column per head.
Row ``(dy + Wh - 1)(2Ww - 1) + (dx + Ww - 1)`` holds the bias from a patch to the patch ``(dy, dx)`` away from
it; the last three rows are class token -> patch, patch -> class token and class token -> class token.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def num_relative_distances(window: tuple[int, int]) -> int:
    """Rows of the table for ``window``: ``(2Wh - 1)(2Ww - 1) + 3``."""
    return (2 * window[0] - 1) * (2 * window[1] - 1) + 3


def relative_position_index(grid: tuple[int, int], window: tuple[int, int] | None = None) -> torch.Tensor:
    """Table row of every (query, key) pair of ``1 + h*w`` tokens (class token first): int64 ``[1+h*w, 1+h*w]``.

    ``window`` (default ``grid``) is the table's window; a smaller ``grid`` reads the rows of its own offsets, so
    a table trained on a window serves any grid that fits in it. With ``grid == window`` this is BEiT's index.
    """
    height, width = grid
    window = tuple(grid) if window is None else tuple(window)
    if height > window[0] or width > window[1]:
        raise ValueError(f"a {height}x{width} token grid does not fit the relative-position window {window}")
    rows = num_relative_distances(window)
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()  # [h*w] each, row-major
    dy = ys[:, None] - ys[None, :] + window[0] - 1  # [h*w, h*w], shifted to start at 0
    dx = xs[:, None] - xs[None, :] + window[1] - 1
    index = torch.zeros((height * width + 1,) * 2, dtype=torch.int64)
    index[1:, 1:] = dy * (2 * window[1] - 1) + dx
    index[0, :] = rows - 3  # class token -> patch
    index[:, 0] = rows - 2  # patch -> class token
    index[0, 0] = rows - 1  # class token -> class token
    return index


def window_of_table(rows: int) -> int:
    """Side of the square window whose table has ``rows`` rows (``ValueError`` when there is none)."""
    side = (math.isqrt(rows - 3) + 1) // 2
    if rows < 4 or (2 * side - 1) ** 2 + 3 != rows:
        raise ValueError(f"a relative position table of {rows} rows is not (2s - 1)^2 + 3 for any square window s")
    return side


def _geometric_offsets(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """mmseg's (and BEiT's) sample positions: ``src`` source offsets spread geometrically over ``dst`` targets.

    The ratio ``q`` is found by bisection on ``[1.01, 1.5]`` so that ``1 + q + ... + q^(src//2 - 1)`` reaches
    ``dst // 2``; the source rows then sit at ``0, +-1, +-(1 + q), ...`` and are sampled at the integers
    ``-dst//2 .. dst//2``.
    """
    half = src // 2
    left, right = 1.01, 1.5
    ratio = left
    while right - left > 1e-6:
        ratio = (left + right) / 2.0
        reach = (1.0 - ratio**half) / (1.0 - ratio)
        if reach > dst // 2:
            right = ratio
        else:
            left = ratio
    distances, current = [], 1.0
    for i in range(half):
        distances.append(current)
        current += ratio ** (i + 1)
    positions = np.array([-d for d in reversed(distances)] + [0.0] + distances)
    t = dst // 2.0
    return positions, np.arange(-t, t + 0.1, 1.0)


def resize_relative_position_table(table: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """A square-window table ``[(2s-1)^2 + 3, heads]`` resized to ``window`` as mmseg's BEiT / MAE backbones do.

    Each head's ``(2s-1) x (2s-1)`` grid is fitted with an interpolating bicubic spline at geometrically spaced
    positions (denser near the centre) and read at the integer offsets of the new window; the three class-token
    rows are kept. (mmseg calls ``scipy.interpolate.interp2d(kind="cubic")``; ``RectBivariateSpline`` with
    ``kx = ky = 3, s = 0`` is the same spline.) The table is returned unchanged when the sizes agree.
    """
    from scipy.interpolate import RectBivariateSpline

    if window[0] != window[1]:
        raise ValueError(f"relative position tables resize to square windows only (mmseg too), got {tuple(window)}")
    if table.ndim != 2:
        raise ValueError(f"expected a relative position table [rows, heads], got shape {tuple(table.shape)}")
    src = 2 * window_of_table(table.shape[0]) - 1
    dst = 2 * window[0] - 1
    if src == dst:
        return table
    grid, extra = table[:-3], table[-3:]
    positions, targets = _geometric_offsets(src, dst)
    columns = []
    for head in range(table.shape[1]):
        values = grid[:, head].reshape(src, src).float().numpy().astype(np.float64)
        spline = RectBivariateSpline(positions, positions, values, kx=3, ky=3, s=0)
        resized = spline(targets, targets)  # [dst, dst]
        columns.append(torch.from_numpy(np.ascontiguousarray(resized, dtype=np.float32)).reshape(-1, 1))
    return torch.cat([torch.cat(columns, dim=1).to(table), extra], dim=0)
