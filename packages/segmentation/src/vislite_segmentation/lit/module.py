"""The segmentation LightningModule: pixel cross-entropy training, mIoU / aAcc / mAcc validation and testing."""

from __future__ import annotations

import torch

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_segmentation.eval.miou import SegmentationMetric, warn_no_labelled_pixels
from vislite_segmentation.inference import Inferencer
from vislite_segmentation.lit.schedule import WarmupPolySchedule
from vislite_segmentation.models.heads.base import resize
from vislite_segmentation.models.segmentor import EncoderDecoder


class SegmentationModule(VisliteModule):
    """Trains an :class:`EncoderDecoder`; logs ``train/loss`` (and its parts) and ``{val,test}/{mIoU,aAcc,mAcc}``
    (percent, mmseg definitions, accumulated over the whole split and synced over devices).

    ``inference`` chooses whole-image or sliding-window evaluation (optionally with flips); logits are resized
    to each label map's original size before the arg-max, as mmseg does.
    """

    def __init__(
        self,
        *,
        model: EncoderDecoder,
        optimizer: OptimizerFactory,
        scheduler: WarmupPolySchedule | None = None,
        inference: Inferencer | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)
        self.inference = inference or Inferencer(size_divisor=model.size_divisor)
        self.num_classes = model.num_classes
        self.val_metric = SegmentationMetric(num_classes=self.num_classes, ignore_index=model.ignore_index)
        self.test_metric = SegmentationMetric(num_classes=self.num_classes, ignore_index=model.ignore_index)

    @property
    def segmentor(self) -> EncoderDecoder:
        """The segmentor, unwrapped from ``torch.compile``."""
        return getattr(self.model, "_orig_mod", self.model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch  # [B, 3, c, c], [B, c, c]
        losses = self.model(images, labels)
        self.log("train/loss", losses["loss"], on_step=True, on_epoch=True, prog_bar=True)
        if len(losses) > 2:  # an auxiliary head: log the parts too
            for name in ("loss_decode", "loss_aux"):
                self.log(f"train/{name}", losses[name], on_step=False, on_epoch=True)
        return losses["loss"]

    def predict_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``[1, K, h, w]`` of one normalised image ``[3, h, w]`` with the configured inference."""
        return self.inference(self.model, image[None], self.num_classes)

    def predict_labels(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Predicted label map ``[H, W]`` of ``image`` at ``size`` (the original label size)."""
        return resize(self.predict_logits(image), size).argmax(dim=1)[0]

    def _evaluate(self, batch: tuple[list[torch.Tensor], list[torch.Tensor]], metric: SegmentationMetric) -> None:
        images, labels = batch
        for image, label in zip(images, labels):
            metric.update(self.predict_labels(image, tuple(label.shape)), label)

    def _log_metric(self, stage: str, metric: SegmentationMetric) -> None:
        values = metric.compute()
        if not bool(torch.isfinite(values["mIoU"])):  # reported as NaN, never as a silent 0.0
            warn_no_labelled_pixels(stage, metric.ignore_index)
        for name in ("mIoU", "aAcc", "mAcc"):
            self.log(f"{stage}/{name}", values[name].float(), prog_bar=name == "mIoU", sync_dist=False)
        metric.reset()

    def validation_step(self, batch: tuple[list[torch.Tensor], list[torch.Tensor]], batch_idx: int) -> None:
        self._evaluate(batch, self.val_metric)

    def on_validation_epoch_end(self) -> None:
        self._log_metric("val", self.val_metric)

    def test_step(self, batch: tuple[list[torch.Tensor], list[torch.Tensor]], batch_idx: int) -> None:
        self._evaluate(batch, self.test_metric)

    def on_test_epoch_end(self) -> None:
        self._log_metric("test", self.test_metric)
