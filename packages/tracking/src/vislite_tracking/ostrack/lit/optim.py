"""OSTrack's optimisation: AdamW with a smaller backbone learning rate, and a step decay per epoch."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR


class BackboneScaledAdamW:
    """Builds AdamW with two groups: ``backbone.*`` at ``lr * backbone_lr_scale``, the rest (head) at ``lr``.

    Weight decay applies to every parameter, as in the reference's ``get_optimizer_scheduler``.
    """

    def __init__(self, *, lr: float = 4e-4, weight_decay: float = 1e-4, backbone_lr_scale: float = 0.1) -> None:
        self.lr, self.weight_decay, self.backbone_lr_scale = lr, weight_decay, backbone_lr_scale

    def param_groups(self, model: nn.Module) -> list[dict]:
        """``[{"params": head...}, {"params": backbone..., "lr": lr * scale}]`` (trainable parameters only)."""
        head = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
        backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
        if not backbone:
            raise ValueError(f"{type(model).__name__} has no trainable 'backbone.*' parameters")
        return [{"params": head, "lr": self.lr}, {"params": backbone, "lr": self.lr * self.backbone_lr_scale}]

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.param_groups(model), lr=self.lr, weight_decay=self.weight_decay)

    def __repr__(self) -> str:
        return f"BackboneScaledAdamW(lr={self.lr}, weight_decay={self.weight_decay}, x{self.backbone_lr_scale})"


class StepDecay:
    """Multiply every learning rate by ``gamma`` each ``drop_epoch`` epochs (``StepLR``), applied per step."""

    def __init__(self, *, drop_epoch: int = 240, gamma: float = 0.1) -> None:
        if drop_epoch < 1:
            raise ValueError(f"drop_epoch must be >= 1, got {drop_epoch}")
        self.drop_epoch, self.gamma = drop_epoch, gamma

    def factor(self, epoch: int) -> float:
        """The lr multiplier during ``epoch`` (0-based)."""
        return self.gamma ** (epoch // self.drop_epoch)

    def __call__(self, optimizer: torch.optim.Optimizer, *, steps_per_epoch: int) -> LambdaLR:
        per_epoch = max(1, int(steps_per_epoch))
        return LambdaLR(optimizer, lambda step: self.factor(step // per_epoch))
