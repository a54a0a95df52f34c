"""Engine modes beyond a plain fit: evaluating a saved checkpoint, replaying a LightningCLI run's config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vislite_common.engine.train import train


def _in(run_dir: Path, *overrides: str) -> list[str]:
    return [f"paths.output_dir={run_dir}", *overrides]


def test_test_only_evaluates_the_given_checkpoint(train_config, tmp_path: Path) -> None:
    trained = train(train_config(_in(tmp_path / "trained", "trainer.max_epochs=2", "test=true")))
    (best,) = (tmp_path / "trained" / "checkpoints").glob("epoch_*.ckpt")
    tested = train(train_config(_in(tmp_path / "tested", "train=false", "test=true", f"ckpt_path={best}")))
    assert tested["test/acc"] == trained["test/acc"]
    assert tested["test/loss"] == pytest.approx(trained["test/loss"], rel=1e-6)
    # the model as built (another seed) scores differently: the checkpoint was really loaded
    fresh = train(train_config(_in(tmp_path / "fresh", "train=false", "test=true", "seed=5")))
    assert fresh["test/loss"] != pytest.approx(trained["test/loss"], rel=1e-6)


def test_test_only_with_a_missing_checkpoint_fails_before_testing(train_config) -> None:
    cfg = train_config(["train=false", "test=true", "ckpt_path=/nowhere/x.ckpt"])
    with pytest.raises(FileNotFoundError, match="/nowhere/x.ckpt"):
        train(cfg)


def _cli_config(world_dir: Path, root: Path) -> dict:
    return {
        "seed_everything": 0,
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "accelerator": "cpu",
                    "precision": "32", "logger": False, "enable_progress_bar": False, "default_root_dir": str(root)},
        "model": {
            "class_path": "vislite_common.lit.classifier.ImageClassifier",
            "init_args": {
                "num_classes": 8,
                "model": {"class_path": "vislite_common.backbones.vit.VisionTransformer",
                          "init_args": {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2,
                                        "num_heads": 2, "num_classes": 8, "global_pool": "avg"}},
                "optimizer": {"class_path": "vislite_common.lit.optim.OptimizerFactory",
                              "init_args": {"name": "adamw", "base_lr": 1e-3}},
            },
        },
        "data": {
            "class_path": "vislite_common.data.world_datamodule.WorldClassificationDataModule",
            "init_args": {"root": str(world_dir / "world" / "classification"), "input_size": 32, "batch_size": 8,
                          "image_size": 32, "train_per_class": 6, "val_per_class": 3},
        },
    }


def _cli_fit(config_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "vislite_common.engine.lightning_cli", "fit", "--config", str(config_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_lightning_cli_run_config_replays_to_the_same_weights(world_dir: Path, tmp_path: Path) -> None:
    """The ``config.yaml`` a ``vislite-cli fit`` run saves is itself a valid ``--config`` giving the same run."""
    first = tmp_path / "run.yaml"
    first.write_text(yaml.safe_dump(_cli_config(world_dir, tmp_path / "first")))
    _cli_fit(first)
    saved = yaml.safe_load((tmp_path / "first" / "config.yaml").read_text())
    saved["trainer"]["default_root_dir"] = str(tmp_path / "replayed")
    replay = tmp_path / "replay.yaml"
    replay.write_text(yaml.safe_dump(saved))
    _cli_fit(replay)
    (a,) = (tmp_path / "first" / "checkpoints").glob("*.ckpt")
    (b,) = (tmp_path / "replayed" / "checkpoints").glob("*.ckpt")
    weights_a = torch.load(a, weights_only=True)["state_dict"]
    weights_b = torch.load(b, weights_only=True)["state_dict"]
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        torch.testing.assert_close(weights_b[name], weights_a[name], rtol=0, atol=0)
