"""Per-sample random masking of patch tokens, decided by a noise tensor (MAE's contract)."""

from __future__ import annotations

import torch


def random_masking(
    tokens: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the first ``int(L * (1 - mask_ratio))`` patches in ascending order of ``noise``.

    Args:
        tokens: ``[N, L, D]`` patch tokens.
        noise: ``[N, L]``; uniform random when ``None``. The same noise gives the same mask.

    Returns:
        ``(kept [N, K, D], mask [N, L] with 1 = removed, ids_restore [N, L], ids_shuffle [N, L])``.
    """
    batch, length, dim = tokens.shape
    keep = int(length * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(batch, length, device=tokens.device)
    if noise.shape != (batch, length):
        raise ValueError(f"noise must have shape {(batch, length)}, got {tuple(noise.shape)}")
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    kept = torch.gather(tokens, 1, ids_shuffle[:, :keep, None].expand(-1, -1, dim))  # [N, K, D]
    mask = torch.ones(batch, length, device=tokens.device)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)  # back to patch order
    return kept, mask, ids_restore, ids_shuffle
