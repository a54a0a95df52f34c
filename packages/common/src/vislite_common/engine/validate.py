"""Checks the engine runs before the first epoch: config value types, writable run folders, class counts.

Each failure is a :class:`ConfigError` naming the config key (or folder) and what was expected, raised before any
data is read or any epoch is spent.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class ConfigError(ValueError):
    """A config value of the wrong type or range; the message names the key."""


_INT = "an integer"
_INT_OR_NULL = "an integer or null"
_NUMBER_OR_NULL = "a number or null"
TRAINER_KEYS: dict[str, str] = {
    "max_epochs": _INT_OR_NULL,
    "min_epochs": _INT_OR_NULL,
    "max_steps": _INT,
    "min_steps": _INT_OR_NULL,
    "num_nodes": _INT,
    "accumulate_grad_batches": _INT,
    "check_val_every_n_epoch": _INT_OR_NULL,
    "log_every_n_steps": _INT_OR_NULL,
    "num_sanity_val_steps": _INT_OR_NULL,
    "gradient_clip_val": _NUMBER_OR_NULL,
    "limit_train_batches": _NUMBER_OR_NULL,
    "limit_val_batches": _NUMBER_OR_NULL,
    "limit_test_batches": _NUMBER_OR_NULL,
    "val_check_interval": _NUMBER_OR_NULL,
}
"""Trainer keys checked by :func:`validate_config` and the kind of value each takes."""
TOP_KEYS: dict[str, str] = {"seed": _INT_OR_NULL, "threads": _INT_OR_NULL}
FLAG_KEYS = ("train", "test")


def _fits(value: Any, kind: str) -> bool:
    if value is None:
        return kind.endswith("or null")
    if isinstance(value, bool):
        return False
    if kind.startswith("an integer"):
        return isinstance(value, numbers.Integral)
    return isinstance(value, numbers.Real)


def validate_config(cfg: Mapping[str, Any]) -> None:
    """Check the types of the top-level and trainer keys the engine reads; raise :class:`ConfigError` naming one."""
    problems = []
    for key, kind in TOP_KEYS.items():
        if key in cfg and not _fits(cfg.get(key), kind):
            problems.append(f"{key}={cfg.get(key)!r} must be {kind}")
    for key in FLAG_KEYS:
        if key in cfg and not isinstance(cfg.get(key), bool):
            problems.append(f"{key}={cfg.get(key)!r} must be true or false")
    ckpt = cfg.get("ckpt_path")
    if ckpt is not None and not isinstance(ckpt, str):
        problems.append(f"ckpt_path={ckpt!r} must be a path (string) or null")
    trainer = cfg.get("trainer") or {}
    for key, kind in TRAINER_KEYS.items():
        if key in trainer and not _fits(trainer.get(key), kind):
            problems.append(f"trainer.{key}={trainer.get(key)!r} must be {kind}")
    for key in ("max_epochs", "min_epochs"):
        value = trainer.get(key)
        if _fits(value, _INT) and value < -1:
            problems.append(f"trainer.{key}={value} must be >= -1 (-1: no limit)")
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))


def check_writable(directory: str | os.PathLike, what: str) -> None:
    """Create ``directory`` if needed and prove a file can be written there (then removed); else name it."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path, prefix=".write-check.", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise PermissionError(
            f"{what} {path} is not writable ({error.strerror or error}); fix its permissions or choose another "
            f"folder (paths.output_dir) before training"
        ) from None


def checkpoint_dirs(callbacks: list[Callback]) -> list[Path]:
    """The ``dirpath`` of every checkpoint callback that has one."""
    dirs = []
    for callback in callbacks:
        dirpath = getattr(callback, "dirpath", None)
        if dirpath and hasattr(callback, "best_model_path"):
            dirs.append(Path(dirpath))
    return sorted(set(dirs))


class ClassCountCheck(Callback):
    """Before fitting or testing: a model with fewer outputs than the data has classes is a config error.

    Compares ``pl_module.num_classes`` with ``trainer.datamodule.num_classes`` (both set by vislite's modules)
    after the data module's ``setup``, instead of an ``IndexError: Target 3 is out of bounds`` mid-epoch. A model
    with more outputs (e.g. an extra background class) is allowed.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        model_n = getattr(pl_module, "num_classes", None)
        data_n = getattr(trainer.datamodule, "num_classes", None) if trainer.datamodule is not None else None
        if isinstance(model_n, int) and isinstance(data_n, int) and model_n < data_n:
            classes = getattr(trainer.datamodule, "classes", None)
            shown = f" ({', '.join(map(str, classes[:10]))}{', ...' if len(classes) > 10 else ''})" if classes else ""
            raise ConfigError(
                f"model.num_classes={model_n} but the data has {data_n} classes{shown}; set model.num_classes="
                f"{data_n}"
            )


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete 0-byte ``.<name>.*.tmp`` files that an interrupted atomic write left in ``directory``; return them.

    Only empty files matching the atomic writers' own pattern are removed (they hold nothing); anything else is
    left alone.
    """
    removed = []
    path = Path(directory)
    if not path.is_dir():
        return removed
    for entry in path.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if entry.is_file() and entry.stat().st_size == 0:
                entry.unlink()
                removed.append(entry)
    return removed
