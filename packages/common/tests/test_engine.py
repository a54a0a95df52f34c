"""The training engine end to end: Hydra and LightningCLI front doors, exact resume, multirun, ddp_spawn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vislite_common.engine.train import metric_value, train

TESTS_DIR = Path(__file__).parent


def _hydra_cmd(data_dir: Path, run_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vislite_common.engine.hydra_main",
        "trainer=cpu",
        "trainer.precision=32",
        "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false",
        "logger=none",
        "data.train_per_class=6",
        "data.val_per_class=3",
        "data.image_size=32",
        "data.input_size=32",
        "data.batch_size=8",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR), OMP_NUM_THREADS="1")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, **kwargs)


def test_fast_dev_run_through_hydra(train_config) -> None:
    metrics = train(train_config(["debug=fast_dev_run"]))
    assert "train/loss" in metrics
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


def test_train_returns_the_optimized_metric(train_config) -> None:
    cfg = train_config(["trainer.max_epochs=1", "test=true"])
    metrics = train(cfg)
    assert 0.0 <= metric_value(metrics, cfg.optimized_metric) <= 1.0
    assert {"val/acc", "val/loss", "test/acc"} <= set(metrics)
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()
    assert yaml.safe_load((Path(cfg.paths.output_dir) / "config.yaml").read_text())["task_name"] == "classify"
    with pytest.raises(KeyError, match="was not logged"):
        metric_value(metrics, "val/nothing")


def test_resume_rejects_relative_or_missing_checkpoint(train_config) -> None:
    with pytest.raises(ValueError, match="absolute"):
        train(train_config(["ckpt_path=last.ckpt"]))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(train_config(["ckpt_path=/nonexistent/last.ckpt"]))


def _cli_config(world_dir: Path, trainer: dict) -> dict:
    """A LightningCLI run file: a two-block ViT classifier on the small world, with ``trainer`` settings."""
    return {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "precision": "32", "logger": False, **trainer},
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


def _cli_fit(config: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(config))
    result = _run([sys.executable, "-m", "vislite_common.engine.lightning_cli", "fit", "--config", str(path)])
    assert result.returncode == 0, result.stderr[-3000:]


def test_fast_dev_run_through_lightning_cli(world_dir: Path, tmp_path: Path) -> None:
    _cli_fit(_cli_config(world_dir, {"fast_dev_run": True, "default_root_dir": str(tmp_path)}), tmp_path / "run.yaml")


def test_lightning_cli_run_config_replays_to_the_same_weights(world_dir: Path, tmp_path: Path) -> None:
    """The ``config.yaml`` a ``vislite-cli fit`` run saves is itself a valid ``--config`` giving the same run."""
    trainer = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "enable_progress_bar": False,
               "default_root_dir": str(tmp_path / "first")}
    _cli_fit(_cli_config(world_dir, trainer), tmp_path / "run.yaml")
    saved = yaml.safe_load((tmp_path / "first" / "config.yaml").read_text())
    saved["trainer"]["default_root_dir"] = str(tmp_path / "replayed")
    _cli_fit(saved, tmp_path / "replay.yaml")
    (first,) = (tmp_path / "first" / "checkpoints").glob("*.ckpt")
    (replayed,) = (tmp_path / "replayed" / "checkpoints").glob("*.ckpt")
    expected = torch.load(first, weights_only=True)["state_dict"]
    actual = torch.load(replayed, weights_only=True)["state_dict"]
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0)


@pytest.mark.slow
def test_lightning_cli_sigterm_checkpoints_and_exits_143(world_dir: Path, tmp_path: Path) -> None:
    """``vislite-cli fit`` stops on SIGTERM as the Hydra engine does; its default checkpoint is relocatable."""
    trainer = {"max_epochs": 3, "enable_progress_bar": False, "default_root_dir": str(tmp_path / "run"),
               "callbacks": [{"class_path": "signal_at_step.SignalAtStep", "init_args": {"step": 4}}]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_cli_config(world_dir, trainer)))
    result = _run([sys.executable, "-m", "vislite_common.engine.lightning_cli", "fit", "--config", str(path)])
    assert result.returncode == 143, result.stderr[-3000:]
    assert "stopped by SIGTERM" in result.stderr
    saved = torch.load(tmp_path / "run" / "checkpoints" / "interrupted.ckpt", weights_only=True)
    assert saved["global_step"] in (5, 6)
    callbacks = [key for key in saved["callbacks"] if "Checkpoint" in key]
    assert any(key.startswith("RelocatableModelCheckpoint") for key in callbacks), callbacks


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def _best_state(run_dir: Path) -> tuple[float, str]:
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]
    state = next(v for k, v in saved.items() if "RelocatableModelCheckpoint" in k and v.get("best_k_models")
                 and "last" not in Path(v["best_model_path"]).name)
    return float(state["best_model_score"]), state["best_model_path"]


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(world_dir: Path, tmp_path: Path) -> None:
    """kill -9 mid-epoch, resume into a new directory: same weights, same best checkpoint, same test metrics."""
    epochs = ["trainer.max_epochs=3", "test=true"]
    full = _run(_hydra_cmd(world_dir, tmp_path / "full", *epochs))
    assert full.returncode == 0, full.stderr[-3000:]
    # 48 train images / batch 8 = 6 steps per epoch: die in the middle of the last epoch (step 15 of 18)
    kill = ["+callbacks.kill._target_=kill_at_step.KillAtStep", "+callbacks.kill.step=15"]
    killed = _run(_hydra_cmd(world_dir, tmp_path / "killed", *epochs, *kill))
    assert killed.returncode == -9, killed.stderr[-3000:]
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 12
    resumed = _run(_hydra_cmd(world_dir, tmp_path / "resumed", *epochs, f"ckpt_path={last}"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected, actual = _final_weights(tmp_path / "full"), _final_weights(tmp_path / "resumed")
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=f"{name} differs after resume")
    full_metrics = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed_metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert resumed_metrics == full_metrics  # the final test evaluated the same best model
    best = {name: _best_state(tmp_path / name) for name in ("full", "resumed")}
    assert best["full"][0] == best["resumed"][0]  # same best score, file now in the new run's folder
    assert Path(best["resumed"][1]).parent == tmp_path / "resumed" / "checkpoints"
    assert (tmp_path / "killed" / "checkpoints" / "last.ckpt").is_file()  # the old run's files are left alone


@pytest.mark.slow
def test_two_job_multirun(world_dir: Path, tmp_path: Path) -> None:
    """``-m`` with the default sweep directory (``outputs/<task>/multiruns/<time>``), from any working directory."""
    cmd = _hydra_cmd(world_dir, tmp_path / "unused", "seed=0,1", "trainer.max_epochs=1", "test=false")
    cmd.insert(3, "--multirun")
    result = _run(cmd, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "classify" / "multiruns").iterdir()
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert yaml.safe_load((sweep / job / "config.yaml").read_text())["seed"] == int(job)


@pytest.mark.slow
def test_ddp_spawn_on_two_cpu_processes(world_dir: Path, tmp_path: Path) -> None:
    result = _run(_hydra_cmd(world_dir, tmp_path / "ddp", "trainer=ddp_cpu", "trainer.max_epochs=1", "test=false",
                             "data.batch_size=8"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/acc" in result.stdout
    saved = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 48 // 8  # global batch 8 = 2 processes x 4: 6 steps per epoch
