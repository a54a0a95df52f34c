"""Per-step learning-rate schedules: linear warm-up then cosine decay (MAE/MAE-Lite ``warmcos``)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(
    step: int, *, total_steps: int, warmup_steps: int, peak_lr: float, min_lr: float = 0.0, warmup_lr: float = 0.0
) -> float:
    """lr(step) / peak_lr: linear from ``warmup_lr`` to the peak over ``warmup_steps``, then cosine to ``min_lr``."""
    if step < warmup_steps:
        lr = warmup_lr + (peak_lr - warmup_lr) * step / warmup_steps
    else:
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        lr = min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return lr / peak_lr


class WarmupCosineSchedule:
    """Factory for a per-step warm-up + cosine schedule; warm-up given in epochs as in the paper recipes.

    Group learning rates keep their ``lr_scale`` (layer decay): every group is multiplied by the same factor.
    """

    def __init__(self, *, warmup_epochs: float = 0.0, min_lr: float = 0.0, warmup_lr: float = 0.0) -> None:
        self.warmup_epochs, self.min_lr, self.warmup_lr = warmup_epochs, min_lr, warmup_lr

    def __call__(
        self, optimizer: torch.optim.Optimizer, *, total_steps: int, steps_per_epoch: int, peak_lr: float
    ) -> LambdaLR:
        warmup_steps = round(self.warmup_epochs * steps_per_epoch)
        if warmup_steps > total_steps:
            raise ValueError(f"warm-up of {warmup_steps} steps is longer than the whole run ({total_steps} steps)")

        def factor(step: int) -> float:
            return warmup_cosine_factor(
                step,
                total_steps=total_steps,
                warmup_steps=warmup_steps,
                peak_lr=peak_lr,
                min_lr=self.min_lr,
                warmup_lr=self.warmup_lr,
            )

        return LambdaLR(optimizer, factor)

    def __repr__(self) -> str:
        return f"WarmupCosineSchedule(warmup_epochs={self.warmup_epochs}, min_lr={self.min_lr})"
