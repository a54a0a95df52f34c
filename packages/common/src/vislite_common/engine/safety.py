"""The engine's safety hooks in one place: run before the first epoch and around ``fit`` / ``test``.

* :func:`safety_callbacks`: the interruption checkpoint and the class-count check, added to every run;
* :func:`preflight`: run and checkpoint folders writable, stale empty temporaries removed, and a resume file
  refused before Lightning reads it when the strategy does not read through vislite's safe checkpoint IO.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from vislite_common.engine.signals import InterruptCheckpoint
from vislite_common.engine.validate import (
    ClassCountCheck,
    check_writable,
    checkpoint_dirs,
    remove_stale_temporaries,
)
from vislite_common.lit.callbacks import AtomicCheckpointIO

log = logging.getLogger(__name__)


def safety_callbacks(callbacks: list[Callback], output_dir: Path) -> tuple[list[Callback], InterruptCheckpoint]:
    """``callbacks`` plus an :class:`InterruptCheckpoint` (checkpoint folder) and a :class:`ClassCountCheck`."""
    dirs = checkpoint_dirs(callbacks)
    interrupt = InterruptCheckpoint(dirs[0] if dirs else output_dir / "checkpoints")
    return [*callbacks, interrupt, ClassCountCheck()], interrupt


def preflight(trainer: pl.Trainer, output_dir: Path, ckpt_path: str | None) -> None:
    """Fail before the first epoch on unwritable folders; tidy stale temporaries; check the resume file's safety."""
    check_writable(output_dir, "run directory")
    for directory in checkpoint_dirs(trainer.callbacks):
        check_writable(directory, "checkpoint folder")
        for stale in remove_stale_temporaries(directory):
            log.info("removed %s: an empty temporary file left by an interrupted checkpoint write", stale)
    if ckpt_path and not isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO) and Path(ckpt_path).is_file():
        from vislite_common.checkpoint import safe_load

        safe_load(ckpt_path)  # refuses a hostile file before the strategy's own loader sees it
