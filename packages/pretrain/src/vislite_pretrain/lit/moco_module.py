"""MoCo-v3 pre-training as a LightningModule: per-iteration momentum update, then the symmetric loss."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule
from vislite_pretrain.mocov3.model import MoCoV3
from vislite_pretrain.mocov3.momentum import cosine_momentum


def _views(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views of a ``((view1, view2), labels)`` batch (labels are never used)."""
    views = batch[0] if isinstance(batch, (tuple, list)) and len(batch) == 2 else None
    if not isinstance(views, (tuple, list)) or len(views) != 2:
        raise TypeError(
            "MoCo-v3 expects batches ((view1, view2), labels); use a two-view datamodule (vislite_pretrain.mocov3.data)"
        )
    return views[0], views[1]


class MoCoV3Module(VisliteModule):
    """Trains a :class:`MoCoV3` model.

    Before every optimizer step's first forward (every iteration, as in the reference; once per accumulation
    window under gradient accumulation) the momentum encoder moves towards the base encoder with momentum
    :func:`cosine_momentum` of the optimizer step (``base_momentum`` rising to 1.0 over the whole run), or a
    constant ``base_momentum`` when ``momentum_cosine`` is false. Validation computes the loss on fixed view
    pairs without updating anything.
    """

    def __init__(
        self,
        *,
        model: MoCoV3,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
        base_momentum: float = 0.99,
        momentum_cosine: bool = True,
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        self.base_momentum = base_momentum
        self.momentum_cosine = momentum_cosine

    backbone_method = "mocov3"
    """The ``source.method`` of the backbone this module exports (``backbone.json``)."""

    def backbone_to_export(self) -> nn.Module:
        """The base (query) encoder, as MoCo-v3's fine-tuning takes it; the momentum twin is left out."""
        return self.moco.base_encoder

    @property
    def moco(self) -> MoCoV3:
        """The MoCo model itself (unwrapped from ``torch.compile``)."""
        return getattr(self.model, "_orig_mod", self.model)

    def current_momentum(self) -> float:
        """The momentum for this optimizer step."""
        if not self.momentum_cosine:
            return self.base_momentum
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return cosine_momentum(self.global_step, total, self.base_momentum)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        return self.model(view1, view2)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        momentum = self.current_momentum()
        if batch_idx % self.trainer.accumulate_grad_batches == 0:  # once per optimizer step, before its first batch
            self.moco.update_momentum_encoder(momentum)
        loss = self(*_views(batch))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/momentum", momentum, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/loss", self(*_views(batch)), on_epoch=True, prog_bar=True, sync_dist=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.log("test/loss", self(*_views(batch)), on_epoch=True, sync_dist=True)
