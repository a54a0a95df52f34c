"""Compose a package's Hydra config in-process (notebooks, tests), with Hydra's runtime fields set."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict


def compose_config(
    config_module: str, overrides: list[str] | None = None, *, output_dir: str | Path, config_name: str = "train"
) -> DictConfig:
    """The config ``config_name`` of ``config_module`` (e.g. ``vislite_pretrain.configs``) with ``overrides``.

    ``${hydra:runtime.output_dir}`` resolves to ``output_dir``, so ``train(cfg)`` can run it as the command
    line would.
    """
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=config_module, version_base="1.3"):
        cfg = compose(config_name=config_name, return_hydra_config=True, overrides=list(overrides or []))
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
    return cfg
