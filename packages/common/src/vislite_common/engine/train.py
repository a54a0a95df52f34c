"""``train(cfg) -> metrics``: the one training engine every vislite package calls."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import vislite_common  # noqa: F401  (registers the backbones before any config names them)
from vislite_common.engine.instantiate import instantiate_callbacks, instantiate_loggers, instantiate_trainer
from vislite_common.engine.safety import preflight, safety_callbacks
from vislite_common.engine.signals import graceful_signals
from vislite_common.engine.validate import check_writable, validate_config
from vislite_common.fileio import atomic_write_text

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Build data, model and trainer from ``cfg``; fit (optionally resuming), test, and return the final metrics.

    The resolved config and the final metrics are written to ``paths.output_dir`` (``config.yaml``,
    ``metrics.json``); checkpoints go to ``paths.output_dir/checkpoints``.

    Keys read: ``seed``, ``data``, ``model``, ``trainer``, ``callbacks``, ``logger``, ``paths.output_dir``,
    ``train`` (bool), ``test`` (bool), ``ckpt_path`` (absolute path of a checkpoint to resume from, or null).
    """
    validate_config(cfg)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    output_dir = Path(cfg.paths.output_dir)
    check_writable(output_dir, "run directory")  # also creates it
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    datamodule: pl.LightningDataModule = instantiate(cfg.data, _convert_="all")
    model: pl.LightningModule = instantiate(cfg.model, _convert_="all")
    callbacks, loggers = instantiate_callbacks(cfg.get("callbacks")), instantiate_loggers(cfg.get("logger"))
    callbacks, interrupt = safety_callbacks(callbacks, output_dir)
    trainer = instantiate_trainer(cfg.trainer, callbacks=callbacks, loggers=loggers)
    resume = _resume_path(cfg.get("ckpt_path"))
    preflight(trainer, output_dir, resume)
    log.info("precision: %s; output: %s", trainer.precision, output_dir)

    metrics: dict[str, float] = {}
    with graceful_signals(trainer, interrupt):  # SIGTERM / SIGINT: checkpoint, then exit 128 + signal
        if cfg.get("train", True):
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
            metrics.update(_as_floats(trainer.callback_metrics))
        if cfg.get("test", False):
            trainer.test(model, datamodule=datamodule, ckpt_path=_test_checkpoint(cfg, trainer))
            metrics.update(_as_floats(trainer.callback_metrics))
    if trainer.is_global_zero:
        atomic_write_text(output_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def _test_checkpoint(cfg: DictConfig, trainer: pl.Trainer) -> str | None:
    """The weights ``trainer.test`` evaluates: the best checkpoint of this fit, or ``ckpt_path`` when not training.

    ``train=false test=true ckpt_path=X`` evaluates X (checked to exist); without ``ckpt_path`` the model is tested
    as built, with a warning.
    """
    if cfg.get("train", True):
        return getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    path = _resume_path(cfg.get("ckpt_path"))
    if path is None:
        log.warning("train=false test=true without ckpt_path: testing the model as built (no checkpoint loaded)")
    return path


def _resume_path(ckpt_path: str | None) -> str | None:
    if ckpt_path is None:
        return None
    path = Path(ckpt_path)
    if not path.is_absolute():
        raise ValueError(f"ckpt_path must be absolute (each run has its own directory), got {ckpt_path!r}")
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path {ckpt_path} does not exist; look for last.ckpt in the run's checkpoints/")
    return str(path)


def _as_floats(metrics: dict) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items() if getattr(value, "numel", lambda: 1)() == 1}


def metric_value(metrics: dict[str, float], name: str | None) -> float | None:
    """The value a sweeper optimises, with a clear error if the config names a metric that was never logged."""
    if not name:
        return None
    if name not in metrics:
        raise KeyError(f"optimized_metric {name!r} was not logged; logged metrics: {sorted(metrics)}")
    return metrics[name]
