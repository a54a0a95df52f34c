"""SIGTERM / SIGINT during training: finish the current batch, write a checkpoint, exit with ``128 + signal``.

Lightning alone turns SIGTERM into a ``SystemExit`` without a code (exit status 0, so schedulers and wrapper
scripts see success) and Ctrl+C into exit status 1 without a checkpoint. Here both stop the loop at the next
batch boundary through Lightning's own SIGTERM path, :class:`InterruptCheckpoint` writes
``checkpoints/interrupted.ckpt``, and :func:`graceful_signals` turns the stop into ``SystemExit(128 + signum)``
(143 for SIGTERM, 130 for SIGINT), which SLURM and shells read as "killed by that signal" (requeue-friendly).

``interrupted.ckpt`` holds the state at the interruption (mid-epoch: Lightning resumes it, but its data order is
not exactly the uninterrupted run's). ``last.ckpt``, written at the end of every epoch, resumes exactly. A second
Ctrl+C raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)

INTERRUPTED_NAME = "interrupted.ckpt"


class TrainingInterrupted(SystemExit):
    """Training stopped on a signal after writing a checkpoint; ``code`` is ``128 + signum``."""


class InterruptCheckpoint(Callback):
    """On a SIGTERM / SIGINT stop, save the trainer's state to ``dirpath/interrupted.ckpt`` before teardown."""

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (SIGTERMException, KeyboardInterrupt)) or trainer.state.fn != "fit":
            return
        path = self.dirpath / INTERRUPTED_NAME
        try:
            trainer.save_checkpoint(path, weights_only=False)  # the full state: optimizer, loops, callbacks
        except Exception as error:  # the stop must still happen; say why there is no checkpoint
            log.error("could not write %s on interruption: %s", path, error)
            return
        self.saved = path


class _Caught:
    signum: int | None = None


@contextlib.contextmanager
def graceful_signals(trainer: pl.Trainer, checkpoint: InterruptCheckpoint | None = None) -> Iterator[_Caught]:
    """Inside the block, SIGTERM / SIGINT stop ``trainer`` at the next batch and exit with ``128 + signum``.

    Handlers are installed only in the main thread and restored on exit.
    """
    caught = _Caught()
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if caught.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl+C: stop now
        caught.signum = signum
        log.warning("received %s: stopping after the current batch", signal.Signals(signum).name)
        trainer._signal_connector.received_sigterm = True  # Lightning's stop-at-batch-end path

    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield caught
    except SystemExit as stop:
        if caught.signum is None or not isinstance(stop, SIGTERMException):
            raise
        name = signal.Signals(caught.signum).name
        where = f"; checkpoint: {checkpoint.saved}" if checkpoint is not None and checkpoint.saved else ""
        message = f"training stopped by {name}{where}; exit status {128 + caught.signum}"
        log.error(message)
        print(message, file=sys.stderr, flush=True)
        raise TrainingInterrupted(128 + caught.signum) from None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
