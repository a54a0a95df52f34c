"""Per-sample random masking of patch tokens, decided by a noise tensor (MAE's contract)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Masking(NamedTuple):
    """One per-sample random mask over ``L`` patches, ``K`` of them kept."""

    ids_keep: torch.Tensor
    """``[N, K]`` kept patch indices, in shuffled order."""
    mask: torch.Tensor
    """``[N, L]`` float32 in patch order: 0 = kept, 1 = removed."""
    ids_restore: torch.Tensor
    """``[N, L]`` position of every patch in the shuffled order (un-shuffles the decoder's tokens)."""
    ids_shuffle: torch.Tensor
    """``[N, L]`` patch indices in ascending order of the noise."""


def make_masking(
    batch: int,
    length: int,
    mask_ratio: float,
    noise: torch.Tensor | None = None,
    *,
    ids_shuffle: torch.Tensor | None = None,
    device: torch.device | str | None = None,
) -> Masking:
    """Keep the first ``int(length * (1 - mask_ratio))`` patches of ``ids_shuffle = argsort(noise)`` (ascending).

    Args:
        noise: ``[N, L]``; uniform random when ``None``. The same noise gives the same mask.
        ids_shuffle: ``[N, L]`` permutation used instead of ``argsort(noise)`` (MAE-Lite's distillation reuses the
            student's permutation for the teacher).
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    keep = int(length * (1 - mask_ratio))
    if ids_shuffle is None:
        if noise is None:
            noise = torch.rand(batch, length, device=device)
        if noise.shape != (batch, length):
            raise ValueError(f"noise must have shape {(batch, length)}, got {tuple(noise.shape)}")
        ids_shuffle = torch.argsort(noise.to(device), dim=1)  # ascending: small noise is kept
    elif ids_shuffle.shape != (batch, length):
        raise ValueError(f"ids_shuffle must have shape {(batch, length)}, got {tuple(ids_shuffle.shape)}")
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # [N, L]
    ids_keep = ids_shuffle[:, :keep]  # [N, K]
    mask = torch.ones(batch, length, device=ids_shuffle.device)
    mask.scatter_(1, ids_keep, 0.0)  # [N, L], patch order
    return Masking(ids_keep, mask, ids_restore, ids_shuffle)


def gather_tokens(tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``tokens [N, L, D]`` rows ``ids [N, K]`` -> ``[N, K, D]`` (the index is expanded, not copied)."""
    return torch.gather(tokens, 1, ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def random_masking(
    tokens: torch.Tensor,
    mask_ratio: float,
    noise: torch.Tensor | None = None,
    *,
    ids_shuffle: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference's ``random_masking``: ``tokens [N, L, D]`` ->
    ``(kept [N, K, D], mask [N, L] (1 = removed), ids_restore [N, L], ids_shuffle [N, L])``."""
    batch, length, _ = tokens.shape
    m = make_masking(batch, length, mask_ratio, noise, ids_shuffle=ids_shuffle, device=tokens.device)
    return gather_tokens(tokens, m.ids_keep), m.mask, m.ids_restore, m.ids_shuffle
