"""Key maps for distillation checkpoints: the student out of a D-MAE / D²-MAE file; D²'s probe block is dropped by
vislite-common's :func:`~vislite_common.backbones.encoder_weights.drop_probe_block`, which every package shares.

Layouts (after wrapper prefixes such as ``model.`` and ``module.`` are stripped):

* MAE-Lite's releases (``mae_lite_distill_exp.py``, ``mae_lite_distill_d2_exp.py``) keep the student MAE at the
  top level beside ``tch_model.*`` (the teacher encoder), ``attn_adapter.adapter11.weight`` (the 1x1 adapter),
  and, when enabled, ``hidden_adapter.*`` and ``ema_model.*``.
* vislite's :class:`~vislite_pretrain.distill.model.DistilledMAE` keeps ``student.*``, ``teacher.*``, ``adapter.*``.
* A D²-MAE student has one block more than it keeps downstream; that last block holds only ``norm1`` and
  ``attn.qkv`` (its projection, ``norm2`` and MLP are deleted in the reference).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch

from vislite_common.backbones.encoder_weights import PROBE_PARAMS, drop_probe_block, probe_block_index
from vislite_pretrain.mae_keys import STUDENT_PREFIX

__all__ = ["PROBE_PARAMS", "REFERENCE_SIBLINGS", "drop_probe_block", "probe_block_index", "student_weights"]

log = logging.getLogger(__name__)

REFERENCE_SIBLINGS = ("tch_model.", "attn_adapter.", "hidden_adapter.", "ema_model.")
"""Entries beside the student in MAE-Lite's distillation checkpoints."""


def student_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The student's entries of a distillation checkpoint; any other state dict is returned unchanged.

    vislite's ``student.*`` subtree is returned without its prefix (teacher and adapter dropped); in MAE-Lite's
    layout the teacher, adapters and EMA copy beside the student are dropped.
    """
    if any(key.startswith(STUDENT_PREFIX) for key in state):
        dropped = sorted({key.split(".", 1)[0] for key in state if not key.startswith(STUDENT_PREFIX)})
        log.info("distillation checkpoint: keeping the student, ignoring %s", dropped)
        return {key[len(STUDENT_PREFIX) :]: value for key, value in state.items() if key.startswith(STUDENT_PREFIX)}
    siblings = sorted({key.split(".", 1)[0] for key in state if key.startswith(REFERENCE_SIBLINGS)})
    if siblings:
        log.info("distillation checkpoint: ignoring %s beside the student", siblings)
    return {key: value for key, value in state.items() if not key.startswith(REFERENCE_SIBLINGS)}
