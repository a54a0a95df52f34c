"""Shared fixtures: a small embedded classification world and a composed training config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from vislite_common.engine.compose import compose_config

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
    return compose_config(
        "vislite_common.configs",
        [
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
        output_dir=output_dir,
    )


@pytest.fixture
def train_config(world_dir: Path, tmp_path: Path) -> Iterator:
    """A factory: ``train_config(overrides) -> DictConfig`` writing into ``tmp_path``."""

    def _make(overrides: list[str] | None = None) -> DictConfig:
        return compose_train_config(world_dir, tmp_path / "run", overrides)

    yield _make
    GlobalHydra.instance().clear()
