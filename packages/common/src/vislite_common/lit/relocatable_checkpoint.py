"""``ModelCheckpoint`` that resumes exactly into any run directory (best score, best path, top-k, last path).

Lightning's own ``ModelCheckpoint.load_state_dict`` drops ``best_model_score``, ``best_k_models``, ``kth_value`` and
``last_model_path`` when the checkpoint was written from another ``dirpath``: a run resumed into a new directory
then takes its first validation after the resume as the "best" model, and the final test evaluates a different
model than the uninterrupted run. :class:`RelocatableModelCheckpoint` restores all of them, with every recorded
file copied from the old directory into the new one (never moved, never deleted there), so later top-k pruning only
ever touches files of the new run.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from vislite_common.fileio import atomic_write

log = logging.getLogger(__name__)


def _copy_file(source: Path, target: Path) -> None:
    """Atomically copy ``source`` to ``target`` (rank zero only; other ranks see the finished file)."""

    def write(handle: Any) -> None:
        with source.open("rb") as src:
            shutil.copyfileobj(src, handle, length=1 << 20)

    if rank_zero_only.rank == 0:
        atomic_write(target, write)


class RelocatableModelCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` whose state survives a change of ``dirpath`` (resume into a new run directory)."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old_dir = state_dict.get("dirpath")
        if self.dirpath is None or old_dir is None or os.path.realpath(old_dir) == os.path.realpath(self.dirpath):
            super().load_state_dict({**state_dict, "dirpath": self.dirpath})
            return
        relocated = dict(state_dict, dirpath=self.dirpath)
        moved: dict[str, str] = {}

        def relocate(path: str | None) -> str:
            if not path:
                return ""
            if path in moved:
                return moved[path]
            source, target = Path(path), Path(self.dirpath) / Path(path).name
            if source.is_file() and not target.exists():
                _copy_file(source, target)
            if not source.is_file() and not target.exists():
                log.warning("checkpoint %s recorded by the resumed run no longer exists; it is not carried over", path)
            moved[path] = str(target)
            return moved[path]

        relocated["best_k_models"] = {
            relocate(path): score for path, score in (state_dict.get("best_k_models") or {}).items()
        }
        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            relocated[key] = relocate(state_dict.get(key))
        log.info("resumed %s from %s into %s (%d file(s) copied)", type(self).__name__, old_dir, self.dirpath,
                 len(moved))
        super().load_state_dict(relocated)
