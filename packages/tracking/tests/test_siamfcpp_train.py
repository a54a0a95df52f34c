"""SiamFC++ learns on the embedded world: the loss falls, the checkpoint reloads as a tracker that beats the
first-frame box on held-out sequences, and the attack's FGSM steps lower the attack loss against it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_tracking.attack.pairs import attack_batches
from vislite_tracking.attack.train import AttackSettings, train_attack
from vislite_tracking.data import load_sequences
from vislite_tracking.eval import FirstFrameTracker, evaluate, run_ope
from vislite_tracking.siamfcpp.load import load_siamfcpp
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker

WORLD = ["data.lasot_sequences=4", "data.got10k_train=4", "data.got10k_val=2", "data.num_frames=30"]


def epoch_losses(out: Path) -> list[float]:
    rows = list(csv.DictReader(next(out.rglob("metrics.csv")).read_text().splitlines()))
    per_epoch: dict[int, list[float]] = {}
    for row in rows:
        if row.get("train/loss"):
            per_epoch.setdefault(int(row["epoch"]), []).append(float(row["train/loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


@pytest.mark.slow
def test_siamfcpp_learns_and_the_attack_loss_falls(world: Path, tmp_path: Path) -> None:
    torch.set_flush_denormal(True)
    out = tmp_path / "run"
    overrides = [
        "experiment=demo_siamfcpp",
        f"data.root={world}",
        *WORLD,
        "data.samples_per_epoch=256",
        "data.val_samples=32",
        "data.batch_size=16",
        "trainer.max_epochs=5",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    metrics = train(compose_config("vislite_tracking.configs", overrides, output_dir=out))
    losses = epoch_losses(out)
    assert losses[-1] < 0.8 * losses[0], losses
    assert metrics["val/iou"] > 0.3
    checkpoint = out / "checkpoints" / "last.ckpt"
    held_out = load_sequences("got10k", world / "got10k", "val")
    run_ope(lambda: SiamFCppTracker(load_siamfcpp(checkpoint)), held_out, tmp_path / "ours", progress=False)
    run_ope(FirstFrameTracker, held_out, tmp_path / "baseline", progress=False)
    ours = evaluate(held_out, tmp_path / "ours", dataset="got10k", convention="got10k")
    baseline = evaluate(held_out, tmp_path / "baseline", dataset="got10k", convention="got10k")
    assert ours["ao"] > baseline["ao"], (ours["ao"], baseline["ao"])
    victim = load_siamfcpp(checkpoint)
    batches = attack_batches(load_sequences("got10k", world / "got10k", "train"), z_size=63, x_size=127, batch_size=8)
    settings = AttackSettings(phase="OURS", patch_size=24, iterations=24, step_x=4.0, step_z=1.0, jitter=64 * 127 / 303)
    _, history = train_attack(victim, batches, settings)
    first = sum(h["total"] for h in history[:6]) / 6
    last = sum(h["total"] for h in history[-6:]) / 6
    assert last < first, (first, last)
