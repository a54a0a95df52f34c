"""Engine reliability: hostile resume files, signals, config types, class counts, unwritable run folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vislite_common.checkpoint import CheckpointError
from vislite_common.engine.train import train
from vislite_common.engine.validate import ConfigError, remove_stale_temporaries, validate_config

TESTS_DIR = Path(__file__).parent


class _Payload:
    """Unpickling this runs ``os.system``: a hostile checkpoint's way to execute code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "hostile.ckpt"
    torch.save({"state_dict": {}, "epoch": 0, "evil": _Payload(marker)}, path, pickle_protocol=2)
    return path, marker


@pytest.mark.parametrize("mode", [["train=true"], ["train=false", "test=true"]])
def test_hostile_ckpt_path_is_refused_with_force_no_weights_only(train_config, tmp_path, monkeypatch, mode) -> None:
    path, marker = _hostile_checkpoint(tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(CheckpointError, match=r"refused to load .*hostile\.ckpt"):
        train(train_config([f"ckpt_path={path}", *mode]))
    assert not marker.exists(), "the checkpoint's payload ran"
    torch.load(path, weights_only=False)  # positive control: an unsafe load does run the payload
    assert marker.exists()


def test_lightning_checkpoint_io_forces_weights_only(tmp_path, monkeypatch) -> None:
    from vislite_common.lit.callbacks import AtomicCheckpointIO

    path, marker = _hostile_checkpoint(tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(CheckpointError, match="hostile.ckpt"):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    assert not marker.exists()


def test_allowlisted_extras_of_released_checkpoints_load(tmp_path) -> None:
    """argparse.Namespace (MAE / timm ``args``), numpy scalars (timm ``metric``) load; nothing else is added."""
    import argparse

    import numpy as np

    from vislite_common.checkpoint import safe_load

    path = tmp_path / "released.pth"
    torch.save({"model": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=0.1), "metric": np.float64(0.5),
                "arr": np.arange(3)}, path)
    loaded = safe_load(path)
    assert loaded["args"].lr == 0.1 and float(loaded["metric"]) == 0.5 and loaded["arr"].tolist() == [0, 1, 2]


def _hydra(data_dir: Path, run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "vislite_common.engine.hydra_main", "trainer=cpu", "trainer.precision=32",
           "trainer.enable_model_summary=false", "trainer.enable_progress_bar=false", "logger=none",
           "data.train_per_class=6", "data.val_per_class=3", "data.image_size=32", "data.input_size=32",
           "data.batch_size=8", f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}", *overrides]
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR), OMP_NUM_THREADS="1")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_vislite_train_refuses_a_hostile_resume_file(world_dir: Path, tmp_path: Path) -> None:
    """The issue's case: ``vislite-train ckpt_path=<file>`` with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``."""
    path, marker = _hostile_checkpoint(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR), OMP_NUM_THREADS="1", TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    cmd = [sys.executable, "-m", "vislite_common.engine.hydra_main", "trainer=cpu", "logger=none",
           f"paths.data_dir={world_dir}", f"hydra.run.dir={tmp_path / 'run'}", f"ckpt_path={path}",
           *[f"data.{k}" for k in ("train_per_class=6", "val_per_class=3", "image_size=32", "input_size=32")]]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "refused to load" in result.stderr and "hostile.ckpt" in result.stderr
    assert not marker.exists(), "the checkpoint's payload ran"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_and_exits_non_zero(world_dir: Path, tmp_path: Path, signum) -> None:
    run = tmp_path / "run"
    result = _hydra(world_dir, run, "trainer.max_epochs=3", "+callbacks.sig._target_=signal_at_step.SignalAtStep",
                    "+callbacks.sig.step=8", f"+callbacks.sig.signum={int(signum)}")
    assert result.returncode == 128 + int(signum), result.stderr[-3000:]
    interrupted = torch.load(run / "checkpoints" / "interrupted.ckpt", weights_only=True)
    assert interrupted["global_step"] in (9, 10)  # the batch that was running when the signal came finished
    assert not (run / "metrics.json").exists()
    assert "stopped by " + signal.Signals(signum).name in result.stderr


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.max_epochs=abc", "trainer.max_epochs"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs"),
        ("trainer.max_steps=true", "trainer.max_steps"),
        ("trainer.accumulate_grad_batches=two", "trainer.accumulate_grad_batches"),
        ("trainer.gradient_clip_val=big", "trainer.gradient_clip_val"),
        ("trainer.limit_train_batches=all", "trainer.limit_train_batches"),
        ("trainer.check_val_every_n_epoch=x", "trainer.check_val_every_n_epoch"),
        ("trainer.max_epochs=-5", "trainer.max_epochs"),
        ("seed=zero", "seed"),
        ("train=maybe", "train"),
        ("test=1", "test"),
        ("ckpt_path=5", "ckpt_path"),
    ],
)
def test_bad_config_values_name_the_key(train_config, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}=.* must be"):
        validate_config(train_config([override]))


def test_too_few_model_classes_fail_before_training(train_config) -> None:
    with pytest.raises(ConfigError, match=r"model.num_classes=3 but the data has 8 classes"):
        train(train_config(["model.num_classes=3", "model.model.num_classes=3"]))


def test_unwritable_checkpoint_folder_fails_before_the_first_epoch(train_config) -> None:
    cfg = train_config()
    blocked = Path(cfg.paths.output_dir) / "checkpoints"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the checkpoint folder should be")  # unwritable, even for root
    with pytest.raises(PermissionError, match=r"checkpoint folder .*checkpoints is not writable"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_read_only_checkpoint_folder_is_named(train_config) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    cfg = train_config()
    ckpt_dir = Path(cfg.paths.output_dir) / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    ckpt_dir.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"checkpoint folder .*checkpoints is not writable"):
            train(cfg)
    finally:
        ckpt_dir.chmod(0o700)


def test_unwritable_run_directory_is_named(train_config, tmp_path) -> None:
    (tmp_path / "blocked").write_text("")
    with pytest.raises(PermissionError, match=r"run directory .*blocked/run is not writable"):
        train(train_config([f"paths.output_dir={tmp_path / 'blocked' / 'run'}"]))


def test_empty_temporaries_of_a_killed_write_are_removed(tmp_path) -> None:
    (tmp_path / ".last.ckpt.abc123.tmp").write_bytes(b"")
    (tmp_path / ".last.ckpt.def456.tmp").write_bytes(b"partial")  # not empty: not ours to judge, kept
    (tmp_path / "notes.tmp").write_bytes(b"")  # not the writers' pattern: kept
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".last.ckpt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".last.ckpt.def456.tmp", "notes.tmp"]
