"""Hiera-MAE pre-training as LightningModules: MAE-lite's and D-MAE's, with masking noise over mask units."""

from __future__ import annotations

import torch

from vislite_pretrain.lit.distill_module import DistillPretrainModule
from vislite_pretrain.lit.mae_module import MAEPretrainModule


class MaskUnitNoise:
    """Reproducible evaluation noise over the model's mask units (``model.num_mask_units``), not its patches."""

    model: torch.nn.Module
    val_seed: int

    def fixed_noise(self, images: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Mask noise ``[N, U]`` for evaluation batch ``batch_idx``, the same in every epoch and run."""
        generator = torch.Generator().manual_seed(self.val_seed * 1_000_003 + batch_idx)
        return torch.rand(images.shape[0], self.model.num_mask_units, generator=generator).to(images.device)


class HieraMAEPretrainModule(MaskUnitNoise, MAEPretrainModule):
    """Trains a :class:`~vislite_pretrain.hiera_mae.model.HieraMAE` (``model(images, mask_ratio, noise) ->
    (loss, pred, mask)``); logs ``{stage}/loss``."""

    backbone_method = "hiera_mae"


class HieraDistillPretrainModule(MaskUnitNoise, DistillPretrainModule):
    """Trains a :class:`~vislite_pretrain.hiera_mae.distill.HieraMAEDistill`; logs ``{stage}/loss``,
    ``{stage}/recon`` and ``{stage}/distill``. The teacher's parameters never require gradients."""

    backbone_method = "hiera_mae_distill"
