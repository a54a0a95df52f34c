"""Early candidate elimination (OSTrack CE): drop the search tokens the template centre attends to least."""

from __future__ import annotations

import math

import torch


def template_centre_mask(batch: int, grid: int, device: torch.device | None = None) -> torch.Tensor:
    """OSTrack's ``CTR_POINT`` template mask ``[B, grid*grid]``: True at token ``((grid-1)//2, (grid-1)//2)``.

    For the 8x8 template grid of a 128 px template this is token (3, 3), as in the reference's table.
    """
    mask = torch.zeros(batch, grid, grid, dtype=torch.bool, device=device)
    centre = (grid - 1) // 2
    mask[:, centre, centre] = True
    return mask.flatten(1)  # [B, grid*grid]


def keep_count(keep_rate: float, num_search: int) -> int:
    """Search tokens kept at a CE block: ``ceil(keep_rate * num_search)``."""
    return math.ceil(keep_rate * num_search)


def eliminate(
    tokens: torch.Tensor, scores: torch.Tensor, global_index: torch.Tensor, num_template: int, keep: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the ``keep`` search tokens with the highest ``scores``.

    Args:
        tokens: ``[B, Lt + Ls, C]`` template then search tokens.
        scores: ``[B, Ls]`` attention each search token receives from the template query tokens.
        global_index: ``[B, Ls]`` original positions of the current search tokens.
        num_template: ``Lt``.
        keep: number of search tokens kept (sorted by score, descending, as the reference: a full sort).

    Returns:
        ``(tokens [B, Lt + keep, C], kept global index [B, keep], removed global index [B, Ls - keep])``.
    """
    order = torch.sort(scores, dim=1, descending=True).indices  # [B, Ls]
    top, rest = order[:, :keep], order[:, keep:]
    search = tokens[:, num_template:]
    channels = search.shape[-1]
    kept = search.gather(1, top.unsqueeze(-1).expand(-1, -1, channels))  # [B, keep, C]
    out = torch.cat([tokens[:, :num_template], kept], dim=1)
    return out, global_index.gather(1, top), global_index.gather(1, rest)


def restore_search_order(
    search: torch.Tensor, kept: torch.Tensor, removed: list[torch.Tensor], total: int
) -> torch.Tensor:
    """Scatter the surviving search tokens ``[B, K, C]`` back to their original positions ``[B, total, C]``;
    eliminated positions are zero (as the reference, after the final LayerNorm)."""
    if not removed:
        return search
    batch, _, channels = search.shape
    out = search.new_zeros(batch, total, channels)
    return out.scatter(1, kept.unsqueeze(-1).expand(-1, -1, channels), search)  # [B, total, C]
