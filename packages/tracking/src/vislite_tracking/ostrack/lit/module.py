"""The tracker's LightningModule: OSTrack losses, CE keep-rate schedule, AdamW + step decay."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vislite_common.lit.base_module import VisliteModule
from vislite_tracking.ostrack.lit.keep_rate import KeepRateSchedule
from vislite_tracking.ostrack.lit.optim import BackboneScaledAdamW, StepDecay
from vislite_tracking.ostrack.loss import TrackingLoss


class TrackingModule(VisliteModule):
    """Trains an :class:`~vislite_tracking.ostrack.model.OSTrack` on (template, search) pairs.

    Args:
        model: the tracker network.
        loss: the objective (2 GIoU + 5 L1 + focal).
        optimizer: AdamW factory with the backbone learning-rate scale.
        scheduler: step decay, or ``None`` for a constant learning rate.
        keep_rate: candidate-elimination keep-rate schedule over epochs.
        compile: ``torch.compile`` the network for training.

    Logs ``train/loss``, ``train/giou``, ``train/l1``, ``train/focal``, ``train/iou``, ``train/keep_rate`` and the
    same under ``val/``. Checkpoints carry the network's build arguments under ``ostrack`` so
    :func:`vislite_tracking.load_tracker` rebuilds it.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        loss: TrackingLoss,
        optimizer: BackboneScaledAdamW,
        scheduler: StepDecay | None = None,
        keep_rate: KeepRateSchedule | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=None, compile=compile)
        self.loss = loss
        self.step_decay = scheduler
        self.keep_rate = keep_rate or KeepRateSchedule()

    def current_keep_rate(self) -> float:
        """Keep rate of the running epoch (the schedule counts epochs from 1)."""
        return self.keep_rate(self.current_epoch + 1)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        keep = self.current_keep_rate()
        outputs = self.model(batch["template"], batch["search"], keep_rate=keep)
        losses = self.loss(outputs, batch["search_box"])
        size = batch["search"].shape[0]
        for name, value in losses.items():
            self.log(f"{stage}/{name}", value, prog_bar=name in ("loss", "iou"), batch_size=size)
        if stage == "train":
            self.log("train/keep_rate", keep, batch_size=size)
        return losses["loss"]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.optimized_module())
        if self.step_decay is None:
            return optimizer
        epochs = self.trainer.max_epochs
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = total // epochs if epochs and epochs > 0 else total
        scheduler = self.step_decay(optimizer, steps_per_epoch=per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        build_args = getattr(self.model, "build_args", None) or getattr(
            getattr(self.model, "_orig_mod", None), "build_args", None
        )
        if build_args is not None:
            checkpoint["ostrack"] = build_args
