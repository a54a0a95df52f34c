"""Template / search position tables of the one-stream tracker, resized from a ViT's pre-trained table."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def patch_table(pos_embed: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
    """The patch part of a ViT position table ``[1, prefix + g*g, C]`` as a grid ``[1, C, g, g]``."""
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"expected a position table [1, tokens, dim], got {tuple(pos_embed.shape)}")
    patches = pos_embed[:, num_prefix_tokens:, :]  # [1, g*g, C]
    side = math.isqrt(patches.shape[1])
    if side * side != patches.shape[1]:
        raise ValueError(
            f"the table's {patches.shape[1]} patch positions after {num_prefix_tokens} prefix tokens "
            "do not form a square grid"
        )
    return patches.transpose(1, 2).reshape(1, -1, side, side)  # [1, C, g, g]


def resize_table(grid_table: torch.Tensor, grid: int) -> torch.Tensor:
    """Bicubic resize (``align_corners=False``, no antialias, as OSTrack's ``finetune_track``) of ``[1, C, g, g]``
    to a flat table ``[1, grid*grid, C]``."""
    resized = F.interpolate(grid_table, size=(grid, grid), mode="bicubic", align_corners=False)  # [1, C, n, n]
    return resized.flatten(2).transpose(1, 2).contiguous()  # [1, n*n, C]
