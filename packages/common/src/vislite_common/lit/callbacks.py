"""Training-safety callbacks: stop on NaN/Inf, reseed every step for exact resume, atomic checkpoint writes."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
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
    paths = [
        getattr(callback, attr, "")
        for callback in trainer.checkpoint_callbacks
        for attr in ("last_model_path", "best_model_path")
    ]
    saved = [p for p in paths if p and os.path.exists(p)]
    return max(saved, key=os.path.getmtime) if saved else None


class StepSeeder(Callback):
    """Reseed torch, numpy and random before every training step from ``(seed, global step, rank)``.

    Model-side randomness (dropout, drop path, MAE masks) then depends only on the step, not on how the
    process got there, so a run resumed from a checkpoint continues exactly like an uninterrupted one. Data
    augmentation is seeded per sample by :class:`~vislite_common.data.samplers.EpochShuffleSampler`.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step_seed = (self.seed * 1_000_003 + trainer.global_step * 1_009 + trainer.global_rank) % 2**32
        torch.manual_seed(step_seed)
        np.random.seed(step_seed)
        random.seed(step_seed)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: atomic writes (temporary file, fsync, rename) and safe reads.

    Every read (``trainer.fit(ckpt_path=...)`` resumes, ``trainer.test(ckpt_path=...)``, ``"last"`` / ``"hpc"``
    restores) goes through :func:`vislite_common.checkpoint.safe_load`: ``weights_only=True`` whatever the torch
    version, the caller's ``weights_only`` or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``.
    """

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        from vislite_common.checkpoint import safe_load  # the checkpoint module imports timm lazily; keep it lazy

        checkpoint = safe_load(path, map_location=map_location if map_location is not None else "cpu")
        if not isinstance(checkpoint, dict):
            raise TypeError(f"{path} holds a {type(checkpoint).__name__}, not a Lightning checkpoint dict")
        return checkpoint

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_write(path, lambda handle: torch.save(checkpoint, handle))
