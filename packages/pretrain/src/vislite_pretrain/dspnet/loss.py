"""Losses: negative cosine over cross-view pairs (BYOL, distillation), InfoNCE against keys or a queue (MoCo)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def cross_view_cosine(
    outputs: tuple[torch.Tensor, torch.Tensor], targets: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """``-mean(cos(outputs[0], targets[1]), cos(outputs[1], targets[0]))``: each view's output against the
    other view's (detached) target, the same-view pairs skipped (US3L's ``CosineSimilarity``); in ``[-1, 1]``."""
    (p1, p2), (z1, z2) = outputs, targets
    return -0.5 * (
        F.cosine_similarity(p1, z2.detach(), dim=-1).mean() + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()
    )


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo-v3's in-batch InfoNCE ``[N, D] x [N, D]``: the positive of query ``i`` is key ``i``; scaled by ``2T``."""
    q, k = F.normalize(queries, dim=1), F.normalize(keys.detach(), dim=1)
    logits = q @ k.t() / temperature  # [N, N]
    labels = torch.arange(q.shape[0], device=q.device)
    return F.cross_entropy(logits, labels) * (2 * temperature)


def queue_info_nce(queries: torch.Tensor, keys: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo-v2's InfoNCE: one positive key per query ``[N, D]``, the queue ``[K, D]`` as negatives."""
    q, k = F.normalize(queries, dim=1), F.normalize(keys.detach(), dim=1)
    positive = (q * k).sum(dim=1, keepdim=True)  # [N, 1]
    negative = q @ queue.detach().t()  # [N, K]
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))
