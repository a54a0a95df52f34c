"""mmseg's iteration schedule: ``LinearLR`` warm-up from ``warmup_ratio`` x lr, then ``PolyLR`` to ``min_lr``."""

from __future__ import annotations

import logging

import torch
from torch.optim.lr_scheduler import LambdaLR

log = logging.getLogger(__name__)


def warmup_poly_factor(
    step: int,
    *,
    total_steps: int,
    warmup_steps: int,
    warmup_ratio: float = 1e-6,
    power: float = 1.0,
    min_ratio: float = 0.0,
) -> float:
    """lr(step) / peak lr: ``warmup_ratio + (1 - warmup_ratio) * step / warmup_steps`` during warm-up, then
    ``min_ratio + (1 - min_ratio) * (1 - (step - warmup) / (total - warmup)) ** power`` (0 at ``total_steps``)."""
    if step < warmup_steps:
        return warmup_ratio + (1.0 - warmup_ratio) * step / warmup_steps
    progress = min((step - warmup_steps) / max(1, total_steps - warmup_steps), 1.0)
    return min_ratio + (1.0 - min_ratio) * (1.0 - progress) ** power


class WarmupPolySchedule:
    """Per-iteration schedule factory (the interface of vislite-common's schedules): warm-up over
    ``warmup_iters`` iterations, then polynomial decay (``power`` 1 = linear) to ``min_lr`` at the last step.
    Every parameter group (layer decay) is scaled by the same factor."""

    def __init__(
        self, *, warmup_iters: int = 1500, warmup_ratio: float = 1e-6, power: float = 1.0, min_lr: float = 0.0
    ) -> None:
        if warmup_iters < 0:
            raise ValueError(f"warmup_iters must be >= 0, got {warmup_iters}")
        self.warmup_iters, self.warmup_ratio = int(warmup_iters), float(warmup_ratio)
        self.power, self.min_lr = float(power), float(min_lr)

    def __call__(
        self, optimizer: torch.optim.Optimizer, *, total_steps: int, steps_per_epoch: int, peak_lr: float
    ) -> LambdaLR:
        warmup = self.warmup_iters
        if warmup > total_steps:  # a debug run (fast_dev_run, a few steps): warm up over the whole run
            log.warning(
                "warm-up of %d iterations is longer than the run (%d); using %d", warmup, total_steps, total_steps
            )
            warmup = total_steps
        min_ratio = self.min_lr / peak_lr if peak_lr > 0 else 0.0

        def factor(step: int) -> float:
            return warmup_poly_factor(
                step,
                total_steps=total_steps,
                warmup_steps=warmup,
                warmup_ratio=self.warmup_ratio,
                power=self.power,
                min_ratio=min_ratio,
            )

        return LambdaLR(optimizer, factor)

    def __repr__(self) -> str:
        return f"WarmupPolySchedule(warmup_iters={self.warmup_iters}, power={self.power}, min_lr={self.min_lr})"
