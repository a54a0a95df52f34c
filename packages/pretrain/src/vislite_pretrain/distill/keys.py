"""Key maps for distillation checkpoints: the student out of a D-MAE / D²-MAE file, D²'s probe block dropped.

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

from vislite_pretrain.mae_keys import STUDENT_PREFIX

log = logging.getLogger(__name__)

REFERENCE_SIBLINGS = ("tch_model.", "attn_adapter.", "hidden_adapter.", "ema_model.")
"""Entries beside the student in MAE-Lite's distillation checkpoints."""
PROBE_PARAMS = frozenset({"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias"})
"""The only parameters of D²-MAE's last (attention-probe) block."""


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


def _block_params(state: Mapping[str, torch.Tensor], prefix: str) -> dict[int, set[str]]:
    """``{block index: parameter names inside the block}`` of the ViT whose keys start with ``prefix``."""
    blocks: dict[int, set[str]] = {}
    start = f"{prefix}blocks."
    for key in state:
        if key.startswith(start):
            index, _, rest = key[len(start) :].partition(".")
            if index.isdigit():
                blocks.setdefault(int(index), set()).add(rest)
    return blocks


def probe_block_index(state: Mapping[str, torch.Tensor], prefix: str = "") -> int | None:
    """Index of a trailing D²-MAE probe block (only ``norm1`` and ``attn.qkv`` after full blocks), else ``None``."""
    blocks = _block_params(state, prefix)
    if len(blocks) < 2:
        return None
    last = max(blocks)
    params = blocks[last]
    if "attn.qkv.weight" in params and params <= PROBE_PARAMS and not blocks[last - 1] <= PROBE_PARAMS:
        return last
    return None


def drop_probe_block(state: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """A D²-MAE student encoder (keys after ``prefix``) as the plain ViT kept downstream; others unchanged.

    The probe block is dropped and its ``norm1`` becomes the final ``norm``: it is the LayerNorm trained on the
    last kept block's output, whereas the student's own ``norm`` normalises the tapped block's output for the
    decoder (block 8 of 13 in the reference) and leaves with the decoder.
    """
    index = probe_block_index(state, prefix)
    if index is None:
        return dict(state)
    block = f"{prefix}blocks.{index}."
    out = {k: v for k, v in state.items() if not k.startswith((block, f"{prefix}norm."))}
    for name in ("weight", "bias"):
        if f"{block}norm1.{name}" in state:
            out[f"{prefix}norm.{name}"] = state[f"{block}norm1.{name}"]
    log.info("D²-MAE student: dropped probe block %d, its norm1 is the final norm", index)
    return out
