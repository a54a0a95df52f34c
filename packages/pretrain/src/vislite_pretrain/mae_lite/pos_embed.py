"""Fixed 2-D sine-cosine position embeddings in MAE's layout (``get_2d_sincos_pos_embed``)."""

from __future__ import annotations

import numpy as np
import torch


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """``[M, dim]`` embedding of ``positions``: ``[sin(p * w_k), cos(p * w_k)]`` with ``w_k = 10000^(-2k/dim)``."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dimension, got {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))  # [dim/2]
    angles = np.einsum("m,d->md", positions.reshape(-1).astype(np.float64), omega)  # [M, dim/2]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, grid: tuple[int, int], cls_token: bool = True) -> torch.Tensor:
    """``[1, (1 +) gh * gw, dim]`` table: first half encodes the column index, second half the row index.

    Row 0 (the class token) is all zeros when ``cls_token``. For ``dim=192`` on a 14x14 grid the table has
    sum of squares 196 * 96 = 18816 exactly.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs a dimension divisible by 4, got {dim}")
    rows, cols = grid
    col_index, row_index = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))
    table = np.concatenate([sincos_1d(dim // 2, col_index), sincos_1d(dim // 2, row_index)], axis=1)  # [L, dim]
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float().unsqueeze(0)
