"""Every config of vislite-common composes and instantiates; configs ship inside the package."""

from __future__ import annotations

from importlib.resources import files

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

GROUP_OPTIONS = {
    "trainer": ["default", "cpu", "gpu", "ddp", "ddp_cpu", "fsdp"],
    "logger": ["csv", "tensorboard", "none"],
    "callbacks": ["default", "ema", "none"],
    "debug": ["fast_dev_run", "overfit"],
    "launcher": ["local"],
}


def test_configs_are_package_data() -> None:
    root = files("vislite_common.configs")
    assert (root / "train.yaml").is_file()
    for group, options in GROUP_OPTIONS.items():
        for option in options:
            assert (root / group / f"{option}.yaml").is_file(), f"{group}/{option}.yaml missing from the package"


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_group_option_composes(group: str, option: str) -> None:
    with initialize_config_module(config_module="vislite_common.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"{group}={option}"], return_hydra_config=True)
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"


def test_model_config_instantiates() -> None:
    with initialize_config_module(config_module="vislite_common.configs", version_base="1.3"):
        cfg = compose(config_name="train")
    model = instantiate(cfg.model, _convert_="all")
    assert model.num_classes == cfg.model.num_classes
    assert model.optimizer_factory.base_lr == pytest.approx(1e-3)
