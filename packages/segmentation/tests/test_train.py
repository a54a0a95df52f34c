"""The training entry point runs both heads end to end, resumes, and the demo prints its comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vislite_common.engine.train import train
from vislite_segmentation.demo.run import main as demo_main

UPERNET_TINY = [
    "model=upernet",
    "model.model.decode_head.channels=16",
    "model.model.auxiliary_head.channels=8",
]


@pytest.mark.parametrize("head", ["semfpn", "upernet"])
def test_fast_dev_run(data_dir: Path, tmp_path: Path, train_config, tiny_model_overrides, head: str) -> None:
    overrides = [*tiny_model_overrides, *(UPERNET_TINY if head == "upernet" else []), "debug=fast_dev_run"]
    metrics = train(train_config(data_dir, tmp_path, overrides))
    assert "val/mIoU" in metrics and 0.0 <= metrics["val/mIoU"] <= 100.0
    assert torch.isfinite(torch.tensor(metrics["train/loss_step"]))


def test_resume_continues_the_run(data_dir: Path, tmp_path: Path, train_config, tiny_model_overrides) -> None:
    base = [*tiny_model_overrides, "data.num_train=16", "model.scheduler.warmup_iters=0", "test=false"]
    train(train_config(data_dir, tmp_path / "a", [*base, "trainer.max_epochs=1"]))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    metrics = train(train_config(data_dir, tmp_path / "b", [*base, "trainer.max_epochs=2", f"ckpt_path={last}"]))
    assert "val/mIoU" in metrics


def test_demo_prints_model_and_baseline(data_dir: Path, tmp_path: Path, tiny_model_overrides, capsys) -> None:
    demo_main(
        [
            "--out", str(tmp_path / "demo"), "--data-dir", str(data_dir),
            *tiny_model_overrides, "data.image_size=64", "data.num_train=48", "data.num_val=12", "data.crop_size=64",
            "data.scale=[256,64]", "data.eval_scale=[256,64]", "trainer.max_epochs=1", "model.scheduler.warmup_iters=0",
            "trainer.precision=32", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "baseline: always" in out and "mIoU" in out
    overlays = sorted((tmp_path / "demo" / "overlays").glob("*.png"))
    assert len(overlays) == 6
    assert (tmp_path / "demo" / "results.json").is_file()
