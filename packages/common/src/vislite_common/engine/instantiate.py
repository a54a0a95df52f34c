"""Build callbacks, loggers and the Trainer from Hydra config nodes (the only place that sees a DictConfig)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback, LearningRateMonitor
from pytorch_lightning.loggers import Logger

from vislite_common.lit.callbacks import AtomicCheckpointIO
from vislite_common.lit.precision import resolve_precision


def _instantiate_group(group: DictConfig | None, kind: type, what: str) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group (a mapping name -> node)."""
    if not group:
        return []
    if not isinstance(group, DictConfig):
        raise TypeError(f"the {what} config must be a mapping of name -> {{_target_: ...}}, got {type(group).__name__}")
    objects = []
    for name, node in group.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ValueError(f"{what}.{name} needs a `_target_` naming the class to build")
        obj = instantiate(node)
        if not isinstance(obj, kind):
            raise TypeError(f"{what}.{name} built a {type(obj).__name__}, expected a {kind.__name__}")
        objects.append(obj)
    return objects


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    """Callbacks from the ``callbacks`` group."""
    return _instantiate_group(cfg, Callback, "callbacks")


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    """Loggers from the ``logger`` group."""
    return _instantiate_group(cfg, Logger, "logger")


def instantiate_trainer(cfg: DictConfig, *, callbacks: list[Callback], loggers: list[Logger]) -> pl.Trainer:
    """The Trainer with ``precision="auto"`` resolved and atomic checkpoint writes (unless the strategy has its own).

    Without a logger, callbacks that only feed loggers (``LearningRateMonitor``) are left out.
    """
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    precision = resolve_precision(cfg.get("precision", "auto"), cfg.get("accelerator", "auto"))
    plugins = [] if str(cfg.get("strategy", "auto")).startswith(("fsdp", "deepspeed")) else [AtomicCheckpointIO()]
    return instantiate(
        cfg, precision=precision, callbacks=callbacks, logger=loggers or False, plugins=plugins, _convert_="all"
    )
