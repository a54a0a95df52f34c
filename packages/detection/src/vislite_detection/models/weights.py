"""Loading whole-detector weights from local files (torchvision releases, vislite Lightning checkpoints)."""

from __future__ import annotations

import os

from torch import nn

from vislite_common.checkpoint import CheckpointError, extract_state_dict, load_into, remap_state_dict, safe_load

TEACHER_KEYS = ("transform.corrector.",)
"""A student's frozen teacher (box correction) lives in the student's checkpoint; it is not the detector's."""


def detector_state(path: str | os.PathLike) -> dict:
    """The detector's state dict in ``path``: a plain one, or a vislite Lightning checkpoint's ``model.*``.

    A box-correction student checkpoint gives the student alone (its teacher's entries are dropped).
    """
    state = extract_state_dict(safe_load(path))
    state = remap_state_dict(state, strip_prefixes=("module.", "model.", "_orig_mod."))
    state = {k: v for k, v in state.items() if not k.startswith(TEACHER_KEYS)}
    return {k.replace("transform.inner.", "transform.", 1): v for k, v in state.items()}


def load_detector_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a whole detector from the local file ``path`` into ``model``; every key must match."""
    try:
        load_into(model, detector_state(path))
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return model
