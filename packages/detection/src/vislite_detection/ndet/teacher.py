"""The frozen teacher of box correction: a detector trained on the noisy boxes, loaded from a local file.

Freezing is :func:`vislite_common.lit.frozen.freeze` (re-exported here). NDet's teacher is frozen with
``in_checkpoint=True``: its weights travel in the student's checkpoints (the box correction a checkpoint was trained
with is part of it, and the tests check that a student checkpoint carries ``transform.corrector.teacher.*``).
"""

from __future__ import annotations

import os

from torch import nn

from vislite_common.lit.frozen import freeze
from vislite_detection.models.weights import load_detector_weights

__all__ = ["freeze", "load_teacher"]


def load_teacher(*, detector: nn.Module, checkpoint: str | os.PathLike) -> nn.Module:
    """``detector`` with the weights of ``checkpoint`` (a vislite training checkpoint or a plain state dict), frozen
    (its weights kept in the checkpoints of the student that holds it)."""
    return freeze(load_detector_weights(detector, checkpoint), in_checkpoint=True)
