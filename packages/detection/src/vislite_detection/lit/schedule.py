"""mmdetection's ``step`` learning-rate policy: a warm-up over iterations, then x0.1 at given epochs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_step_factor(
    step: int,
    *,
    warmup_iters: int,
    warmup_ratio: float,
    warmup: str,
    milestones: Sequence[int],
    gamma: float,
) -> float:
    """lr(step) / peak lr: ``gamma ** (milestones passed)``, times the warm-up factor during the first iterations.

    Warm-up (mmcv): ``linear`` goes from ``warmup_ratio`` to 1 as ``1 - (1 - step / warmup_iters) * (1 -
    warmup_ratio)``; ``constant`` stays at ``warmup_ratio``.
    """
    factor = gamma ** sum(step >= m for m in milestones)
    if step < warmup_iters:
        if warmup == "linear":
            factor *= 1.0 - (1.0 - step / warmup_iters) * (1.0 - warmup_ratio)
        else:
            factor *= warmup_ratio
    return factor


class WarmupMultiStepSchedule:
    """Factory for the per-iteration ``step`` policy of mmdetection's 1x schedule (steps at epochs 8 and 11 of 12).

    ``milestones`` are epochs, converted with the run's iterations per epoch; warm-up is in iterations.
    """

    def __init__(
        self,
        *,
        milestones: Sequence[int] = (8, 11),
        gamma: float = 0.1,
        warmup: str = "linear",
        warmup_iters: int = 500,
        warmup_ratio: float = 0.001,
    ) -> None:
        if warmup not in ("linear", "constant"):
            raise ValueError(f"warmup must be 'linear' or 'constant', got {warmup!r}")
        if not 0.0 < warmup_ratio <= 1.0:
            raise ValueError(f"warmup_ratio must be in (0, 1], got {warmup_ratio}")
        self.milestones, self.gamma = tuple(int(m) for m in milestones), gamma
        self.warmup, self.warmup_iters, self.warmup_ratio = warmup, int(warmup_iters), warmup_ratio

    def __call__(
        self, optimizer: torch.optim.Optimizer, *, total_steps: int, steps_per_epoch: int, peak_lr: float
    ) -> LambdaLR:
        steps = [m * steps_per_epoch for m in self.milestones]
        warmup_iters = min(self.warmup_iters, total_steps)

        def factor(step: int) -> float:
            return warmup_step_factor(
                step,
                warmup_iters=warmup_iters,
                warmup_ratio=self.warmup_ratio,
                warmup=self.warmup,
                milestones=steps,
                gamma=self.gamma,
            )

        return LambdaLR(optimizer, factor)

    def __repr__(self) -> str:
        return (
            f"WarmupMultiStepSchedule(milestones={self.milestones}, warmup={self.warmup!r}, "
            f"warmup_iters={self.warmup_iters}, warmup_ratio={self.warmup_ratio})"
        )
