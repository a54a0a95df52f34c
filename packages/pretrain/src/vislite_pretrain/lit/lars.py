"""LARS (You et al., 2017) as used by the MAE linear-probing protocol.

Weight decay and the layer-wise trust ratio apply only to parameters with more than one dimension; biases and
normalisation parameters take plain momentum SGD steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class LARS(torch.optim.Optimizer):
    """Momentum SGD whose update of every weight matrix is rescaled by ``trust * ||w|| / ||g + wd * w||``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.0,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        trust_coefficient: float = 0.001,
    ) -> None:
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, trust_coefficient=trust_coefficient)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                update = param.grad
                if param.ndim > 1:
                    update = update.add(param, alpha=group["weight_decay"])
                    param_norm, update_norm = torch.norm(param), torch.norm(update)
                    ratio = group["trust_coefficient"] * param_norm / update_norm
                    one = torch.ones_like(param_norm)
                    update = update.mul(torch.where(param_norm > 0, torch.where(update_norm > 0, ratio, one), one))
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]
                buffer.mul_(group["momentum"]).add_(update)
                param.add_(buffer, alpha=-group["lr"])
        return loss
