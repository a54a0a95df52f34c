"""MAE-lite pre-training as a LightningModule: masked-patch reconstruction, nothing else."""

from __future__ import annotations

import torch
from torch import nn

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule
from vislite_pretrain.mae_lite.speed import AttentionImpl, set_attention_impl, tune_cpu_allocator


def _images(batch: torch.Tensor | tuple | list) -> torch.Tensor:
    """Images from an ``(images, labels)`` batch or a bare image tensor (labels are never used)."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


class MAEPretrainModule(VisliteModule):
    """Trains a masked autoencoder ``model(images, mask_ratio, noise) -> (loss, pred, mask)``.

    Validation uses a fixed mask per batch (noise seeded by ``val_seed`` and the batch index), so ``val/loss``
    is comparable across epochs and runs. At the start of fitting, each attention block gets the faster of the
    two equal attention implementations for its device, precision and sequence length (``attention_impl``, see
    :func:`~vislite_pretrain.mae_lite.speed.set_attention_impl`) and, on CPU, freed activations stay in the
    process heap (:func:`~vislite_pretrain.mae_lite.speed.tune_cpu_allocator`).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
        mask_ratio: float = 0.75,
        val_seed: int = 0,
        attention_impl: AttentionImpl = "auto",
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        self.mask_ratio = mask_ratio
        self.val_seed = val_seed
        self.attention_impl = attention_impl

    backbone_method = "mae_lite"
    """The ``source.method`` of the backbone this module exports (``backbone.json``)."""

    def backbone_to_export(self) -> nn.Module:
        """The encoder downstream tasks start from (written as ``backbone.safetensors`` at the end of fit)."""
        return getattr(self.model, "_orig_mod", self.model).encoder

    def on_fit_start(self) -> None:
        precision = str(self.trainer.precision) if self._trainer is not None else "32"
        set_attention_impl(self.model, self.attention_impl, device=self.device.type, precision=precision)
        if self.device.type == "cpu":
            tune_cpu_allocator()

    def forward(
        self, images: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model(images, mask_ratio=self.mask_ratio, noise=noise)

    def training_step(self, batch: torch.Tensor | tuple, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self(_images(batch))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def fixed_noise(self, images: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Reproducible mask noise ``[N, L]`` for evaluation batch ``batch_idx``."""
        num_patches = self.model.patchify(images).shape[1]
        generator = torch.Generator().manual_seed(self.val_seed * 1_000_003 + batch_idx)
        return torch.rand(images.shape[0], num_patches, generator=generator).to(images.device)

    def validation_step(self, batch: torch.Tensor | tuple, batch_idx: int) -> None:
        images = _images(batch)
        loss, _, _ = self(images, noise=self.fixed_noise(images, batch_idx))
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)

    def test_step(self, batch: torch.Tensor | tuple, batch_idx: int) -> None:
        images = _images(batch)
        loss, _, _ = self(images, noise=self.fixed_noise(images, batch_idx))
        self.log("test/loss", loss, on_epoch=True, sync_dist=True)
