"""Shared fixtures: a small embedded classification world and a composed training config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

WORLD_OVERRIDES = ["data.train_per_class=6", "data.val_per_class=3", "data.image_size=32", "data.input_size=32"]


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data dir holding a small classification world (generated once per test session)."""
    from vislite_common.data.world import make_classification

    data_dir = tmp_path_factory.mktemp("data")
    root = data_dir / "world" / "classification"
    make_classification(root, seed=0, image_size=32, train_per_class=6, val_per_class=3)
    return data_dir


def compose_train_config(data_dir: Path, output_dir: Path, overrides: list[str] | None = None) -> DictConfig:
    """Compose vislite-common's train.yaml for a fast CPU run, with Hydra's runtime config set."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="vislite_common.configs", version_base="1.3"):
        cfg = compose(
            config_name="train",
            return_hydra_config=True,
            overrides=[
                *WORLD_OVERRIDES,
                "trainer=cpu",
                "trainer.precision=32",
                "trainer.max_epochs=1",
                "trainer.enable_model_summary=false",
                "trainer.enable_progress_bar=false",
                "logger=none",
                "data.batch_size=8",
                f"paths.data_dir={data_dir}",
                f"paths.output_dir={output_dir}",
                f"paths.log_dir={output_dir}",
                *(overrides or []),
            ],
        )
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def train_config(world_dir: Path, tmp_path: Path) -> Iterator:
    """A factory: ``train_config(overrides) -> DictConfig`` writing into ``tmp_path``."""

    def _make(overrides: list[str] | None = None) -> DictConfig:
        return compose_train_config(world_dir, tmp_path / "run", overrides)

    yield _make
    GlobalHydra.instance().clear()
