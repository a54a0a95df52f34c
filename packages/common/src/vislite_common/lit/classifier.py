"""Image classification: supervised training, fine-tuning, and the tiny classifier of the smoke tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.data import Mixup
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule


class ImageClassifier(VisliteModule):
    """Cross-entropy classifier with optional mixup/cutmix and label smoothing; logs ``stage/loss``, ``stage/acc``.

    ``model`` maps images ``[B, 3, H, W]`` to logits ``[B, num_classes]`` (any timm / vislite model).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
        label_smoothing: float = 0.0,
        mixup: Mixup | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler", "mixup"])
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.mixup = mixup
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        if self.mixup is not None:
            images, soft = self.mixup(images, labels)  # soft: [B, num_classes]
            logits = self(images)
            loss = torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
        else:
            logits = self(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
            self.train_acc(logits, labels)
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metric: MulticlassAccuracy) -> None:
        images, labels = batch
        logits = self(images)
        self.log(f"{stage}/loss", F.cross_entropy(logits, labels), on_epoch=True, sync_dist=True)
        metric(logits, labels)
        self.log(f"{stage}/acc", metric, on_epoch=True, prog_bar=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_acc)
