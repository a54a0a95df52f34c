"""MAE-lite learns on the embedded world: the reconstruction loss falls, and fine-tuning from it beats chance
widely on held-out images.

The demo's configs run end to end through ``train(cfg)`` with a small ViT (width 64, depth 4, patch 16 at 64 px):
pre-training 40 epochs, fine-tuning 40. Measured: norm-pix loss 1.14 -> 0.70 (train), 0.84 -> 0.79 (val, from
epoch 10); fine-tuned top-1 26.0% on the 200 held-out images (chance 12.5%; the same fine-tuning from scratch
reaches 20.5%, a comparison the demo reports at ViT-Tiny size).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train

CHANCE = 1 / 8
SMALL_VIT = ["embed_dim=64", "depth=4", "num_heads=4", "patch_size=16"]
COMMON = [
    "trainer.precision=32",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "data.image_size=64",
    "data.input_size=64",
    "data.train_per_class=150",
    "data.val_per_class=25",
]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Small matrices: one thread is as fast as two, and immune to a busy neighbour."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    GlobalHydra.instance().clear()


def _run(tmp_path: Path, name: str, overrides: list[str]) -> tuple[dict[str, float], Path]:
    run_dir = tmp_path / name
    cfg = compose_config(
        "vislite_pretrain.configs",
        [*COMMON, f"paths.data_dir={tmp_path / 'data'}", f"paths.output_dir={run_dir}", *overrides],
        output_dir=run_dir,
    )
    return train(cfg), run_dir


def _epoch_values(run_dir: Path, key: str) -> list[float]:
    """The per-epoch values of ``key`` in the CSV logger's metrics file."""
    (path,) = run_dir.rglob("metrics.csv")
    with path.open() as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


@pytest.mark.slow
def test_mae_lite_pretraining_learns_and_finetuning_beats_chance(tmp_path: Path) -> None:
    encoder = [f"+model.model.{arg}" for arg in SMALL_VIT]
    pre_metrics, pre_dir = _run(
        tmp_path,
        "pretrain",
        [
            "experiment=demo_pretrain",
            "model.model.encoder_name=test_vislite_vit",
            *encoder,
            "trainer.max_epochs=40",
            "trainer.check_val_every_n_epoch=10",
        ],
    )
    train_losses, val_losses = _epoch_values(pre_dir, "train/loss_epoch"), _epoch_values(pre_dir, "val/loss")
    assert train_losses[-1] < 0.75 * train_losses[0], train_losses
    assert val_losses[-1] < val_losses[0], val_losses  # norm-pix MSE: 1.0 is predicting each patch's mean

    classifier = ["model.model.name=test_vislite_vit", *encoder, "trainer.max_epochs=40"]
    ckpt = pre_dir / "checkpoints" / "last.ckpt"
    finetuned, _ = _run(tmp_path, "finetune", ["experiment=demo_finetune", f"model.model.init={ckpt}", *classifier])
    assert finetuned["test/acc"] >= 1.6 * CHANCE, finetuned  # 3 standard errors above chance on 200 images
