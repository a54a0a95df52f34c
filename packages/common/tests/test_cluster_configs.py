"""Cluster configs as documented: SLURM through submitit (composed, never submitted), DDP on CPU, FSDP on GPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf

from vislite_common.engine.compose import compose_config
from vislite_common.engine.instantiate import instantiate_trainer

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs vislite-common[slurm]")


@pytest.fixture(autouse=True)
def _clear_hydra():
    yield
    GlobalHydra.instance().clear()


def _slurm_env(tasks_per_node: int, nodes: int) -> dict[str, str]:
    """The variables ``srun`` sets in the first task of a job (what Lightning's SLURMEnvironment reads)."""
    return {
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "vislite-train", "SLURM_NTASKS": str(tasks_per_node * nodes),
        "SLURM_NTASKS_PER_NODE": str(tasks_per_node), "SLURM_NNODES": str(nodes), "SLURM_NODELIST": "node[1-2]",
        "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
    }


@pytest.mark.parametrize(("devices", "nodes"), [(8, 1), (4, 2)])
def test_slurm_launcher_asks_for_one_task_per_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, devices: int, nodes: int
) -> None:
    overrides = ["launcher=slurm", f"trainer.devices={devices}", f"trainer.num_nodes={nodes}"]
    cfg = compose_config("vislite_common.configs", overrides, output_dir=tmp_path)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["tasks_per_node"], launcher["gpus_per_node"], launcher["nodes"]) == (devices, devices, nodes)
    assert cfg.trainer.strategy == "ddp"
    # the Trainer accepts that allocation (CPU processes stand in for the GPUs; nothing is launched before fit)
    for name, value in _slurm_env(launcher["tasks_per_node"], launcher["nodes"]).items():
        monkeypatch.setenv(name, value)
    trainer_cfg = cfg.trainer.copy()
    trainer_cfg.accelerator = "cpu"
    trainer = instantiate_trainer(trainer_cfg, callbacks=[], loggers=[])
    environment = trainer.strategy.cluster_environment
    assert isinstance(environment, SLURMEnvironment)
    assert trainer.world_size == devices * nodes
    environment.validate_settings(num_devices=trainer.num_devices, num_nodes=trainer.num_nodes)  # as fit() does
    # one task per node (the old launcher setting) is what Lightning refuses
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "1")
    with pytest.raises(ValueError, match="ntasks-per-node"):
        environment.validate_settings(num_devices=trainer.num_devices, num_nodes=trainer.num_nodes)


def test_fsdp_wraps_each_transformer_block(tmp_path: Path) -> None:
    from hydra.utils import instantiate
    from timm.models.vision_transformer import Block

    cfg = compose_config("vislite_common.configs", ["trainer=fsdp"], output_dir=tmp_path)
    policy = instantiate(cfg.trainer.strategy.auto_wrap_policy)
    assert Block in policy


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 1, reason="needs a CUDA GPU")
def test_fsdp_trainer_builds_on_gpu(tmp_path: Path) -> None:
    from pytorch_lightning.strategies import FSDPStrategy

    cfg = compose_config("vislite_common.configs", ["trainer=fsdp", "trainer.devices=1"], output_dir=tmp_path)
    trainer = instantiate_trainer(cfg.trainer, callbacks=[], loggers=[])
    assert isinstance(trainer.strategy, FSDPStrategy)


@pytest.mark.slow
def test_ddp_runs_on_two_cpu_processes_with_batchnorm(world_dir: Path, tmp_path: Path) -> None:
    """``trainer=ddp`` (SyncBatchNorm requested) on CPU: BatchNorm stays per process and training runs."""
    cmd = [
        sys.executable, "-m", "vislite_common.engine.hydra_main", "trainer=ddp", "trainer.accelerator=cpu",
        "trainer.devices=2", "trainer.precision=32", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "logger=none", "test=false", "data.train_per_class=6",
        "data.val_per_class=3", "data.image_size=32", "data.input_size=32", "data.batch_size=8",
        f"paths.data_dir={world_dir}", f"hydra.run.dir={tmp_path / 'ddp'}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 48 // 8  # global batch 8 = 2 processes x 4
    assert any(k.endswith("running_mean") for k in saved["state_dict"])  # the default model has BatchNorm
