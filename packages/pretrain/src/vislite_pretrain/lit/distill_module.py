"""D-MAE / D²-MAE pre-training as a LightningModule: reconstruction plus attention distillation."""

from __future__ import annotations

import copy

import torch
from torch import nn

from vislite_common.backbones.encoder_weights import probe_block_index
from vislite_common.backbones.manifest import SPEC_ATTR
from vislite_pretrain.distill.model import DistilledMAE, DistillOutput
from vislite_pretrain.lit.mae_module import MAEPretrainModule, _images


class DistillPretrainModule(MAEPretrainModule):
    """Trains a :class:`~vislite_pretrain.distill.model.DistilledMAE`; the optimizer sees the student and the
    adapter (the teacher's parameters never require gradients).

    Logs ``{stage}/loss`` (the total), ``{stage}/recon`` and ``{stage}/distill``. Validation and test use a fixed
    mask per batch, as :class:`MAEPretrainModule` does, so their losses are comparable across epochs.
    """

    model: DistilledMAE

    @property
    def backbone_method(self) -> str:
        """``d2mae`` for a student with an attention-probe block, else ``dmae`` (``backbone.json``'s source)."""
        model = getattr(self.model, "_orig_mod", self.model)
        encoder = getattr(model, "student", model).encoder
        return "dmae" if probe_block_index(encoder.state_dict()) is None else "d2mae"

    def backbone_to_export(self) -> nn.Module:
        """The student's encoder; a D²-MAE student loses its attention-probe block, whose ``norm1`` (trained on the
        last kept block's output) becomes the final norm, as :func:`~vislite_pretrain.distill.export.
        export_student_encoder` writes it."""
        model = getattr(self.model, "_orig_mod", self.model)
        encoder = getattr(model, "student", model).encoder
        probe = probe_block_index(encoder.state_dict())
        if probe is None:
            return encoder
        kept = copy.deepcopy(encoder)
        kept.norm = kept.blocks[probe].norm1
        kept.blocks = kept.blocks[:probe]
        spec = getattr(encoder, SPEC_ATTR, None)
        if spec is not None:
            setattr(kept, SPEC_ATTR, {"name": spec["name"], "kwargs": {**spec["kwargs"], "depth": probe}})
        return kept

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
