"""SGD as mmdetection's detection recipes use it: weight decay on all weights, optional bias lr / decay factors."""

from __future__ import annotations

import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import nn


class DetectionSGD:
    """Builds ``torch.optim.SGD`` for a detector (the factory interface of ``vislite_common.lit.optim``).

    Every trainable parameter gets ``weight_decay`` except biases, whose learning rate is multiplied by
    ``bias_lr_mult`` and weight decay by ``bias_decay_mult`` (mmdetection's ``paramwise_cfg``; FCOS uses 2 and 0).
    ``lr`` is absolute; with ``base_batch_size`` set it is the lr at that global batch and scales linearly.
    Frozen parameters (a teacher, frozen backbone stages) are left out.
    """

    def __init__(
        self,
        *,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        bias_lr_mult: float = 1.0,
        bias_decay_mult: float = 1.0,
        base_batch_size: int | None = None,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.bias_lr_mult, self.bias_decay_mult = bias_lr_mult, bias_decay_mult
        self.base_batch_size = base_batch_size

    def learning_rate(self, global_batch_size: int) -> float:
        """The peak learning rate for this global batch size."""
        if self.base_batch_size is None:
            return self.lr
        return self.lr * global_batch_size / self.base_batch_size

    def param_groups(self, model: nn.Module, lr: float) -> list[dict]:
        """Two groups, weights and biases, of the parameters that require gradients."""
        weights, biases = [], []
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                (biases if name.endswith(".bias") else weights).append(parameter)
        groups = [{"params": weights, "lr": lr, "weight_decay": self.weight_decay, "lr_scale": 1.0}]
        if biases:
            groups.append(
                {
                    "params": biases,
                    "lr": lr * self.bias_lr_mult,
                    "weight_decay": self.weight_decay * self.bias_decay_mult,
                    "lr_scale": self.bias_lr_mult,
                }
            )
        return groups

    def scaling_message(self, global_batch_size: int) -> str:
        """One line stating the global batch and the learning rate the linear scaling rule gives it."""
        lr = self.learning_rate(global_batch_size)
        if self.base_batch_size is None:
            return f"global batch {global_batch_size} images; lr {lr:g} (absolute, not scaled with the batch)"
        return (
            f"global batch {global_batch_size} images (data.batch_size, over all devices); linear scaling rule: "
            f"lr = {self.lr:g} x {global_batch_size} / {self.base_batch_size} = {lr:g}"
        )

    def __call__(self, model: nn.Module, *, global_batch_size: int) -> torch.optim.SGD:
        lr = self.learning_rate(global_batch_size)
        rank_zero_info(self.scaling_message(global_batch_size))  # on the console at the start of training
        return torch.optim.SGD(self.param_groups(model, lr), lr=lr, momentum=self.momentum)

    def __repr__(self) -> str:
        return (
            f"DetectionSGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
            f"bias_lr_mult={self.bias_lr_mult}, bias_decay_mult={self.bias_decay_mult})"
        )
