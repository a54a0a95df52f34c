"""D-MAE / D²-MAE pre-training as a LightningModule: reconstruction plus attention distillation."""

from __future__ import annotations

import torch

from vislite_pretrain.distill.model import DistilledMAE, DistillOutput
from vislite_pretrain.lit.mae_module import MAEPretrainModule, _images


class DistillPretrainModule(MAEPretrainModule):
    """Trains a :class:`~vislite_pretrain.distill.model.DistilledMAE`; the optimizer sees the student and the
    adapter (the teacher's parameters never require gradients).

    Logs ``{stage}/loss`` (the total), ``{stage}/recon`` and ``{stage}/distill``. Validation and test use a fixed
    mask per batch, as :class:`MAEPretrainModule` does, so their losses are comparable across epochs.
    """

    model: DistilledMAE

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> DistillOutput:
        return self.model(images, mask_ratio=self.mask_ratio, noise=noise)

    def _log_losses(self, stage: str, out: DistillOutput) -> None:
        training = stage == "train"
        options = dict(on_step=training, on_epoch=True, sync_dist=not training)
        self.log(f"{stage}/loss", out.loss, prog_bar=stage != "test", **options)
        self.log(f"{stage}/recon", out.reconstruction, **options)
        self.log(f"{stage}/distill", out.distillation, **options)

    def training_step(self, batch: torch.Tensor | tuple, batch_idx: int) -> torch.Tensor:
        out = self(_images(batch))
        self._log_losses("train", out)
        return out.loss

    def validation_step(self, batch: torch.Tensor | tuple, batch_idx: int) -> None:
        images = _images(batch)
        self._log_losses("val", self(images, noise=self.fixed_noise(images, batch_idx)))

    def test_step(self, batch: torch.Tensor | tuple, batch_idx: int) -> None:
        images = _images(batch)
        self._log_losses("test", self(images, noise=self.fixed_noise(images, batch_idx)))
