"""Linear probing (MAE protocol): a frozen encoder, a parameter-free BatchNorm, and a linear head."""

from __future__ import annotations

import torch
from timm.layers import trunc_normal_
from torch import nn

from vislite_common.lit.classifier import ImageClassifier
from vislite_common.lit.frozen import KeepFrozenMixin, freeze
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule


class LinearProbeModel(KeepFrozenMixin, nn.Module):
    """``encoder`` features (class token or mean of patch tokens) -> BatchNorm1d(affine=False) -> Linear.

    The encoder is frozen (:func:`~vislite_common.lit.frozen.freeze`) and kept in eval mode; only ``head`` trains.
    Its weights are left out of the probe's checkpoints: it is rebuilt from ``encoder.init`` on every run, resume
    and ``train=false test=true`` evaluation (loading stays strict for the head; older checkpoints that hold
    ``encoder.*`` still load them).
    """

    def __init__(self, *, encoder: nn.Module, num_classes: int, pool: str = "token") -> None:
        super().__init__()
        if pool not in ("token", "avg"):
            raise ValueError(f"pool must be 'token' (class token, the MAE protocol) or 'avg', got {pool!r}")
        self.encoder = freeze(encoder)
        self.pool = pool
        dim = encoder.num_features
        linear = nn.Linear(dim, num_classes)
        trunc_normal_(linear.weight, std=0.01)
        nn.init.zeros_(linear.bias)
        self.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), linear)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen features ``[B, dim]``."""
        tokens = self.encoder.forward_features(images)  # [B, prefix + L, dim]
        if self.pool == "token":
            return tokens[:, 0]
        return tokens[:, self.encoder.num_prefix_tokens :].mean(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class LinearProbeClassifier(ImageClassifier):
    """:class:`ImageClassifier` whose optimizer sees only the probe head (no mixup, no label smoothing)."""

    def __init__(
        self,
        *,
        model: LinearProbeModel,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
    ) -> None:
        super().__init__(model=model, num_classes=num_classes, optimizer=optimizer, scheduler=scheduler)

    def optimized_module(self) -> nn.Module:
        return self.model.head
