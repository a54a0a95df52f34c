"""MoCo-v3's contrastive loss (InfoNCE against keys gathered from every process), scaled by ``2T``.

Keys come from the momentum encoder and carry no gradient, so they are gathered with a plain
``torch.distributed.all_gather`` (nothing to back-propagate through it). Each process scores its own queries
against all ``world_size * N`` keys; the positive of query ``i`` on rank ``r`` is key ``r * N + i``. Without an
initialised process group (one CPU process) the gather is the identity and the rank is 0.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.nn import functional as F


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def process_rank() -> int:
    """This process's rank in the default process group (0 when not distributed)."""
    return dist.get_rank() if _distributed() else 0


@torch.no_grad()
def gather_keys(keys: torch.Tensor) -> torch.Tensor:
    """All processes' ``keys`` ``[N, C]`` concatenated in rank order: ``[world_size * N, C]`` (no gradient).

    Every process must pass the same ``N`` (the datamodule drops the last incomplete training batch).
    """
    if not _distributed():
        return keys
    gathered = [torch.empty_like(keys) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, keys.contiguous())
    return torch.cat(gathered, dim=0)  # [world * N, C]


def contrastive_loss(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """``2T * CE(q k^T / T, positives)`` for ``queries [N, C]`` (with gradient) and ``keys [N, C]`` (without).

    Both are L2-normalised; the keys of all processes are the negatives. With independent random features the
    value is close to ``2T ln(world_size * N)`` (reference/pretrain.md E.3).
    """
    if queries.ndim != 2 or queries.shape != keys.shape:
        raise ValueError(f"queries and keys must both be [N, C], got {tuple(queries.shape)} and {tuple(keys.shape)}")
    q = F.normalize(queries, dim=1)
    k = gather_keys(F.normalize(keys.detach(), dim=1))  # [world * N, C]
    logits = q @ k.t() / temperature  # [N, world * N]
    n = q.shape[0]
    labels = torch.arange(n, device=q.device) + n * process_rank()  # positives: this rank's block of keys
    return F.cross_entropy(logits.float(), labels) * (2 * temperature)


def symmetric_loss(
    q1: torch.Tensor, q2: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo-v3's symmetrised loss: view 1's queries against view 2's keys plus the converse (``~4T ln N`` at
    chance)."""
    return contrastive_loss(q1, k2, temperature) + contrastive_loss(q2, k1, temperature)
