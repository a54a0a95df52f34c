"""The frozen teacher of box correction: a detector trained on the noisy boxes, loaded from a local file."""

from __future__ import annotations

import os

from torch import nn

from vislite_detection.models.weights import load_detector_weights


def freeze(module: nn.Module) -> nn.Module:
    """No gradients and evaluation mode (batch norm statistics and dropout fixed)."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module.eval()


def load_teacher(*, detector: nn.Module, checkpoint: str | os.PathLike) -> nn.Module:
    """``detector`` with the weights of ``checkpoint`` (a vislite training checkpoint or a plain state dict), frozen."""
    return freeze(load_detector_weights(detector, checkpoint))


class FrozenTeacherMixin(nn.Module):
    """Keeps ``self.teacher`` frozen in evaluation mode whatever ``train()`` is called on its parents."""

    teacher: nn.Module

    def train(self, mode: bool = True) -> FrozenTeacherMixin:
        super().train(mode)
        self.teacher.eval()
        return self
