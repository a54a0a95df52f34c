"""The candidate-elimination keep-rate schedule of training (OSTrack ``adjust_keep_rate``)."""

from __future__ import annotations

import math


class KeepRateSchedule:
    """Keep rate 1.0 before epoch ``start``; cosine from 1.0 to ``final`` over ``warm`` epochs; then ``final``.

    Epochs are counted from 1 as in the reference trainer (the recipe: 1.0 until epoch 20, 0.7 from epoch 100).
    """

    def __init__(self, *, start: int = 20, warm: int = 80, final: float = 0.7) -> None:
        if warm < 1 or not 0 < final <= 1:
            raise ValueError(f"need warm >= 1 and 0 < final <= 1, got warm={warm}, final={final}")
        self.start, self.warm, self.final = start, warm, final

    def __call__(self, epoch: int) -> float:
        if epoch < self.start:
            return 1.0
        if epoch >= self.start + self.warm:
            return self.final
        progress = (epoch - self.start) / self.warm
        return self.final + (1.0 - self.final) * (math.cos(progress * math.pi) + 1) * 0.5
