"""Training end to end on the embedded world: the loss falls, the checkpoint loads as a tracker that beats the
first-frame-box baseline (AUC and precision) on held-out sequences, and training resumes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_tracking import load_tracker
from vislite_tracking.data import load_sequences
from vislite_tracking.eval import FirstFrameTracker, evaluate, run_ope

WORLD = ["data.lasot_sequences=4", "data.got10k_train=4", "data.got10k_val=2", "data.num_frames=30"]


def _config(world: Path, out: Path, *overrides: str):
    return compose_config(
        "vislite_tracking.configs",
        [
            "experiment=demo_tracking",
            f"data.root={world}",
            *WORLD,
            "logger=csv",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            *overrides,
        ],
        output_dir=out,
    )


def _epoch_losses(out: Path) -> list[float]:
    rows = list(csv.DictReader(next(out.rglob("metrics.csv")).read_text().splitlines()))
    per_epoch: dict[int, list[float]] = {}
    for row in rows:
        if row.get("train/loss"):
            per_epoch.setdefault(int(row["epoch"]), []).append(float(row["train/loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


@pytest.mark.slow
def test_loss_falls_and_the_tracker_beats_the_first_frame_box(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    schedule = ["model.scheduler.drop_epoch=10", "model.keep_rate.start=5", "model.keep_rate.warm=4"]
    metrics = train(_config(world, out, "trainer.max_epochs=12", "data.samples_per_epoch=512", *schedule))
    losses = _epoch_losses(out)
    assert len(losses) == 12 and losses[-1] < 0.6 * losses[0], losses
    assert metrics["val/iou"] > 0.2
    held_out = load_sequences("got10k", world / "got10k", "val")
    checkpoint = out / "checkpoints" / "last.ckpt"
    run_ope(lambda: load_tracker(checkpoint, threads=1), held_out, tmp_path / "ours", progress=False)
    run_ope(FirstFrameTracker, held_out, tmp_path / "baseline", progress=False)
    ours = evaluate(held_out, tmp_path / "ours", dataset="got10k", convention="pytracking")
    baseline = evaluate(held_out, tmp_path / "baseline", dataset="got10k", convention="pytracking")
    # measured on the 2-core development machine: AUC 22.4 vs 17.0, precision 55.0 vs 25.0
    assert ours["auc"] > baseline["auc"], (ours["auc"], baseline["auc"])
    assert ours["precision"] > baseline["precision"], (ours["precision"], baseline["precision"])


def test_one_step_and_resume(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "short"
    small = ["data.samples_per_epoch=8", "data.val_samples=4", "data.batch_size=4"]
    train(_config(world, out, "trainer.max_epochs=1", *small))
    last = out / "checkpoints" / "last.ckpt"
    assert last.is_file()
    tracker = load_tracker(last)
    assert tracker.network.search_size == 64
    resumed = tmp_path / "resumed"
    metrics = train(_config(world, resumed, "trainer.max_epochs=2", f"ckpt_path={last}", *small))
    assert "train/loss" in metrics
