"""Training-safety callbacks: stop on NaN/Inf, reseed every epoch for exact resume, atomic checkpoint writes."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Callback

from vislite_common.fileio import atomic_write


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or Inf; the last good checkpoint is left untouched."""


class NonFiniteLossGuard(Callback):
    """Stop training with a clear error the moment the loss is NaN or Inf, before it reaches the weights.

    The check runs in ``on_before_backward``, so the bad step never updates the parameters and no checkpoint
    is written from it; ``last.ckpt`` keeps the last good state.
    """

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        value = float(loss.detach().float())
        if math.isfinite(value):
            return
        ckpt = _last_checkpoint(trainer)
        where = f"; the last good checkpoint is {ckpt}" if ckpt else "; no checkpoint had been written yet"
        raise NonFiniteLossError(
            f"training loss is {value} at epoch {trainer.current_epoch}, global step {trainer.global_step}. "
            f"Training stopped before the update{where}. Lower the learning rate, check the input data, or try "
            f"precision=32 (bf16/16-bit can overflow)."
        )


def _last_checkpoint(trainer: pl.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    for attr in ("last_model_path", "best_model_path"):
        path = getattr(callback, attr, "") if callback else ""
        if path and os.path.exists(path):
            return path
    return None


class EpochSeeder(Callback):
    """Reseed torch, numpy and random at the start of every epoch from ``(seed, epoch)``.

    Together with an epoch-seeded sampler this makes a run resumed from an end-of-epoch checkpoint follow
    exactly the same data order and augmentations as an uninterrupted run.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl.seed_everything(self.seed * 100_003 + trainer.current_epoch, workers=True, verbose=False)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes to a temporary file, fsyncs, then renames over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_write(path, lambda handle: torch.save(checkpoint, handle))
