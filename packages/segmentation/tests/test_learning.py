"""End to end on the embedded world: the training loss falls and held-out mIoU is well above a constant
predictor's; the checkpoint reloads into the same config's model and reproduces the logged mIoU."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hydra.utils import instantiate

from vislite_common.checkpoint import extract_state_dict, safe_load
from vislite_common.engine.train import train
from vislite_segmentation.demo.evaluate import compare_with_baseline, majority_class, predict_split


def _epoch_losses(run_dir: Path) -> list[float]:
    rows = list(csv.DictReader((next(run_dir.rglob("metrics.csv"))).open()))
    return [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]


@pytest.mark.slow
def test_loss_falls_and_miou_beats_the_majority_class(
    data_dir: Path, tmp_path: Path, train_config, tiny_model_overrides
) -> None:
    cfg = train_config(
        data_dir,
        tmp_path,
        [
            *tiny_model_overrides,
            "logger=csv",
            "trainer.max_epochs=8",
            "data.batch_size=8",
            "model.optimizer.lr=2e-3",
            "model.scheduler.warmup_iters=6",
        ],
    )
    metrics = train(cfg)
    losses = _epoch_losses(tmp_path)
    assert len(losses) == 8 and losses[-1] < 0.75 * losses[0], losses

    module = instantiate(cfg.model, _convert_="all")
    module.load_state_dict(extract_state_dict(safe_load(tmp_path / "checkpoints" / "last.ckpt")))
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    preds, labels = predict_split(module, datamodule.datasets["val"])
    constant = majority_class(datamodule.datasets["train"])
    results = compare_with_baseline(preds, labels, 11, constant)
    assert results["model"]["mIoU"] == pytest.approx(metrics["val/mIoU"], abs=1e-3)
    assert results["model"]["mIoU"] > 3 * results["baseline"]["mIoU"] + 5, results
    assert results["model"]["aAcc"] > results["baseline"]["aAcc"] + 15, results
