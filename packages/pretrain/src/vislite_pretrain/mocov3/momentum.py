"""The momentum (EMA) encoder: MoCo-v3's cosine momentum schedule and the per-iteration update."""

from __future__ import annotations

import math

import torch
from torch import nn


def cosine_momentum(step: int, total_steps: int, base_momentum: float = 0.99) -> float:
    """``m = 1 - (1 - m0) * (1 + cos(pi * step / total)) / 2``: ``m0`` at step 0, rising to 1.0 at ``total``.

    MoCo-v3's ``--moco-m-cos`` (evaluated per iteration, as MAE-Lite's copy and the official loop do).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0.0 <= base_momentum <= 1.0:
        raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
    progress = min(max(step / total_steps, 0.0), 1.0)
    return 1.0 - 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - base_momentum)


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, momentum: float) -> None:
    """``target = momentum * target + (1 - momentum) * online`` for every parameter (buffers are left alone,
    as in MoCo-v3: the momentum BatchNorms keep their own running statistics)."""
    online_params, target_params = list(online.parameters()), list(target.parameters())
    if len(online_params) != len(target_params):
        raise ValueError(f"online and momentum modules differ: {len(online_params)} vs {len(target_params)} parameters")
    torch._foreach_lerp_(target_params, [p.detach() for p in online_params], 1.0 - momentum)
