"""Build callbacks, loggers and the Trainer from Hydra config nodes (the only place that sees a DictConfig)."""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback, LearningRateMonitor
from pytorch_lightning.loggers import Logger

from vislite_common.lit.callbacks import AtomicCheckpointIO
from vislite_common.lit.precision import resolve_precision

log = logging.getLogger(__name__)


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
    plugins = [] if _shards_checkpoints(cfg.get("strategy", "auto")) else [AtomicCheckpointIO()]
    extra = {}
    if cfg.get("sync_batchnorm", False) and not _on_gpu(cfg.get("accelerator", "auto")):
        log.info("sync_batchnorm is GPU-only (SyncBatchNorm has no CPU kernel): each CPU process keeps its own stats")
        extra["sync_batchnorm"] = False
    return instantiate(
        cfg, precision=precision, callbacks=callbacks, logger=loggers or False, plugins=plugins, _convert_="all",
        **extra,
    )


def _shards_checkpoints(strategy: object) -> bool:
    """Whether ``strategy`` (a name or a ``_target_`` node) writes its own sharded checkpoints (FSDP, DeepSpeed)."""
    name = strategy.get("_target_", "") if isinstance(strategy, DictConfig) else str(strategy)
    return any(kind in name.lower() for kind in ("fsdp", "deepspeed"))


def _on_gpu(accelerator: str) -> bool:
    """Whether ``accelerator`` runs on CUDA devices (``auto`` picks them when present)."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
