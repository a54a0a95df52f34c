"""Fixed 2-D sine-cosine position embeddings in MAE's layout (``util/pos_embed.py: get_2d_sincos_pos_embed``).

Layout of one row (``dim = D``), as in MAE: ``[sin(x w), cos(x w), sin(y w), cos(y w)]`` with ``x`` the column
(width) index, ``y`` the row (height) index and ``w_k = 10000^(-k / (D/4))``, ``k = 0 .. D/4 - 1``. MAE names
the first half ``emb_h`` but feeds it ``grid[0]`` of ``np.meshgrid(grid_w, grid_h)``, which is the *column*
index; this module reproduces that layout exactly. The tables are computed in float64 and returned in float32.
"""

from __future__ import annotations

import numpy as np
import torch


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """``[M, dim]`` float64 table ``[sin(p w_k), cos(p w_k)]`` of the flattened ``positions``."""
    if dim % 2:
        raise ValueError(f"a sin-cos embedding needs an even dimension, got {dim}")
    omega = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))  # [dim/2]
    angles = np.outer(positions.reshape(-1).astype(np.float64), omega)  # [M, dim/2]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)  # [M, dim]


def get_2d_sincos_pos_embed(dim: int, grid_size: int | tuple[int, int], cls_token: bool = False) -> np.ndarray:
    """MAE's table as a float64 array: ``[(1 +) H*W, dim]``, patches in row-major order, class row all zeros.

    ``grid_size`` is ``H`` (square grid, as MAE) or ``(H, W)``.
    """
    if dim % 4:
        raise ValueError(f"a 2-D sin-cos embedding needs a dimension divisible by 4, got {dim}")
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
    col_index, row_index = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))  # [H, W]
    table = np.concatenate([sincos_1d(dim // 2, col_index), sincos_1d(dim // 2, row_index)], axis=1)  # [H*W, dim]
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)  # [1 + H*W, dim]
    return table


def sincos_pos_embed(dim: int, grid_size: int | tuple[int, int], cls_token: bool = True) -> torch.Tensor:
    """The table as a float32 tensor ``[1, (1 +) H*W, dim]``, ready to copy into a ``pos_embed`` parameter.

    For ``dim=192`` on a 14x14 grid: shape ``[1, 197, 192]``, sum of squares exactly ``196 * 96 = 18816``
    (every sin/cos pair has unit norm) and sum ``17277.5542``.
    """
    return torch.from_numpy(get_2d_sincos_pos_embed(dim, grid_size, cls_token)).float().unsqueeze(0)
