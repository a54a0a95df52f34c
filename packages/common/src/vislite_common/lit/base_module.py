"""The LightningModule base every vislite method derives from: optimizer/scheduler factories and compile."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule


class VisliteModule(pl.LightningModule):
    """Base module: owns ``self.model`` and builds its optimizer and per-step scheduler from factories.

    Subclasses implement ``training_step`` / ``validation_step`` and log metrics as ``stage/name``. The
    learning rate can scale with the *global* batch size (``OptimizerFactory(base_lr=...)``), read from the
    datamodule's ``batch_size`` (vislite datamodules take the global batch and split it across devices).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.compile = compile

    def setup(self, stage: str) -> None:
        if self.compile and stage == "fit" and not hasattr(self.model, "_orig_mod"):
            self.model = torch.compile(self.model)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """State dict without ``torch.compile``'s ``_orig_mod.`` prefix, so checkpoints load uncompiled."""
        return {k.replace("_orig_mod.", ""): v for k, v in super().state_dict(*args, **kwargs).items()}

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
        if hasattr(self.model, "_orig_mod"):
            state_dict = {
                (f"model._orig_mod.{k[len('model.'):]}" if k.startswith("model.") else k): v
                for k, v in state_dict.items()
            }
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def optimized_module(self) -> nn.Module:
        """The module whose parameters the optimizer trains (override to freeze parts, e.g. linear probing)."""
        return self.model

    def global_batch_size(self) -> int:
        """Images per optimizer step over all devices."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "batch_size"):
            return int(datamodule.batch_size) * self.trainer.accumulate_grad_batches
        raise RuntimeError(
            "cannot tell the global batch size: pass a vislite datamodule (with a `batch_size` attribute) to fit()"
        )

    def configure_optimizers(self) -> Any:
        batch = self.global_batch_size()
        optimizer = self.optimizer_factory(self.optimized_module(), global_batch_size=batch)
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        epochs = self.trainer.max_epochs
        per_epoch = math.ceil(total / epochs) if epochs and epochs > 0 else total
        scheduler = self.scheduler_factory(
            optimizer,
            total_steps=total,
            steps_per_epoch=per_epoch,
            peak_lr=self.optimizer_factory.learning_rate(batch),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
