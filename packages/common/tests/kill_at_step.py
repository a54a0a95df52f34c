"""A test-only callback that hard-kills the training process at a given global step (imported by subprocesses)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class KillAtStep(Callback):
    """SIGKILL this process once ``trainer.global_step`` reaches ``step`` (simulates a crash or pre-emption)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
