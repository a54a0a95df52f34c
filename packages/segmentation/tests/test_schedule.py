"""Under Lightning the warm-up + poly schedule steps once per optimizer step (not per epoch) and ends at 0."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate


class _LrRecorder(pl.Callback):
    """The learning rate of every parameter group before each optimizer step, and after the last one."""

    def __init__(self) -> None:
        self.before: list[list[float]] = []
        self.epochs: list[int] = []
        self.after_last: list[float] = []

    @staticmethod
    def _lrs(trainer: pl.Trainer) -> list[float]:
        return [group["lr"] for group in trainer.optimizers[0].param_groups]

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        self.before.append(self._lrs(trainer))
        self.epochs.append(trainer.current_epoch)

    def on_train_end(self, trainer: pl.Trainer, *args: object) -> None:
        self.after_last = self._lrs(trainer)


def test_lr_follows_warmup_then_linear_decay_per_step(
    data_dir: Path, tmp_path: Path, train_config, tiny_model_overrides
) -> None:
    # 48 images at batch 8: 6 steps an epoch, so 8 steps cross an epoch boundary; 3 warm-up steps, then 5 of decay
    cfg = train_config(data_dir, tmp_path, [*tiny_model_overrides, "model.scheduler.warmup_iters=3"])
    assert cfg.model.scheduler.warmup_ratio == 1e-6 and cfg.model.scheduler.power == 1.0
    module = instantiate(cfg.model, _convert_="all")
    datamodule = instantiate(cfg.data, _convert_="all")
    recorder = _LrRecorder()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=8,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 8
    assert recorder.epochs == [0] * 6 + [1] * 2, recorder.epochs
    peaks = [group["initial_lr"] for group in trainer.optimizers[0].param_groups]
    assert max(peaks) == pytest.approx(cfg.model.optimizer.lr)
    # step k < 3: 1e-6 + (1 - 1e-6) k / 3; step k >= 3: 1 - (k - 3) / 5; 0 after the 8th step
    warmup = [1e-6 + (1 - 1e-6) * k / 3 for k in range(3)]
    expected = [*warmup, 1.0, 0.8, 0.6, 0.4, 0.2]
    assert len(recorder.before) == 8
    for k, lrs in enumerate(recorder.before):
        assert lrs == pytest.approx([peak * expected[k] for peak in peaks], rel=1e-9, abs=1e-15), k
    assert recorder.after_last == pytest.approx([0.0] * len(peaks), abs=1e-15)
