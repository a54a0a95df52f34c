"""The Lightning module of the distillation fine-tune: MAE-Lite's ``ModelDistill`` loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.data import Mixup
from torch import nn

from vislite_common.lit.classifier import ImageClassifier
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule

DISTILL_TYPES = ("none", "soft", "hard")


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, *, kind: str = "hard", tau: float = 1.0
) -> torch.Tensor:
    """``hard``: cross-entropy to the teacher's arg-max; ``soft``: ``KL(teacher || student)`` at temperature ``tau``,
    summed, times ``tau^2``, divided by ``student.numel()`` (DeiT's and MAE-Lite's normalisation)."""
    if kind == "hard":
        return F.cross_entropy(student, teacher.argmax(dim=1))
    if kind == "soft":
        kl = F.kl_div(
            F.log_softmax(student / tau, dim=1), F.log_softmax(teacher / tau, dim=1), reduction="sum", log_target=True
        )
        return kl * (tau * tau) / student.numel()
    raise ValueError(f"distillation kind must be 'soft' or 'hard', got {kind!r}")


class DistillFinetuneClassifier(ImageClassifier):
    """:class:`ImageClassifier` whose model returns ``(logits, dist_logits)`` in training (``DistillTokenViT``);
    the loss is ``(1 - alpha) * CE(logits) + alpha * distill(dist_logits, teacher(images))`` on the (mixed) images.
    ``distill_type="none"`` trains the class head only, as MAE-Lite does without a teacher."""

    def __init__(
        self,
        *,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        teacher: nn.Module | None,
        scheduler: WarmupCosineSchedule | None = None,
        label_smoothing: float = 0.0,
        mixup: Mixup | None = None,
        distill_type: str = "hard",
        distill_alpha: float = 0.5,
        distill_tau: float = 1.0,
        compile: bool = False,
    ) -> None:
        if distill_type not in DISTILL_TYPES:
            raise ValueError(f"distill_type must be one of {list(DISTILL_TYPES)}, got {distill_type!r}")
        if distill_type != "none" and teacher is None:
            raise ValueError(f"distill_type={distill_type!r} needs a teacher")
        super().__init__(
            model=model,
            num_classes=num_classes,
            optimizer=optimizer,
            scheduler=scheduler,
            label_smoothing=label_smoothing,
            mixup=mixup,
            compile=compile,
        )
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler", "mixup", "teacher"])
        self.teacher = teacher
        self.distill_type, self.distill_alpha, self.distill_tau = distill_type, float(distill_alpha), float(distill_tau)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        if self.mixup is not None:
            images, soft = self.mixup(images, labels)  # soft: [B, num_classes]
        outputs = self(images)
        logits, dist_logits = outputs if isinstance(outputs, tuple) else (outputs, None)
        if self.mixup is not None:
            loss = torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        if dist_logits is not None and self.distill_type != "none":
            with torch.no_grad():
                teacher_logits = self.teacher(images)  # [B, K]
            distill = distillation_loss(dist_logits, teacher_logits, kind=self.distill_type, tau=self.distill_tau)
            self.log("train/distill_loss", distill, on_step=True, on_epoch=True)
            loss = loss * (1 - self.distill_alpha) + distill * self.distill_alpha
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss
