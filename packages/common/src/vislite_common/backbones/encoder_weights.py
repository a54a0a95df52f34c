"""The ViT encoder inside any pre-training or fine-tuning checkpoint, with timm's key names.

One place for what every downstream package (detection, segmentation, tracking) needs from a pre-trained file:
a vislite Lightning checkpoint (``state_dict`` with ``model.encoder.*``, ``model.student.encoder.*``,
``model.base_encoder.*`` or a classifier's ``model.*``), a released MAE-Lite checkpoint (``{"model":
{"model.blocks.0...": ...}}`` beside distillation siblings such as ``tch_model.*``), a MoCo-v3 release
(``module.base_encoder.*``), or a plain timm / MAE state dict. DDP and ``torch.compile`` wrappers are stripped; the
encoder's container sub-modules are unwrapped in turn; what lies outside is logged. A D²-MAE student's trailing
attention-probe block is dropped (:func:`drop_probe_block`), so its 12 kept blocks load into a 12-block ViT.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from vislite_common.checkpoint import extract_state_dict, remap_state_dict

log = logging.getLogger(__name__)

WRAPPERS = ("module.", "_orig_mod.")
"""Prefixes added by DDP and ``torch.compile``, stripped wherever they lead a key."""
ENCODER_SUBTREES = ("model.", "student.", "base_encoder.", "encoder.")
"""Containers an encoder sits in, outermost first: a Lightning module or MAE-Lite's wrapper, a distillation
student, MoCo-v3's query encoder (its momentum twin and predictor are left out), an MAE."""
NOT_ENCODER = ("mask_token", "decoder_", "head.", "fc_norm.")
"""Key prefixes beside the encoder: an MAE decoder and a classifier (MoCo-v3's projector is its ``head``)."""
PROBE_PARAMS = frozenset({"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias"})
"""The only parameters of D²-MAE's last (attention-probe) block."""


def keep_subtree(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix`` (prefix and wrappers removed) when there are any, else ``state`` unchanged."""
    if not any(k.startswith(prefix) for k in state):
        return dict(state)
    ignored = sorted({k.split(".", 1)[0] for k in state if not k.startswith(prefix)})
    if ignored:
        log.info("ignoring checkpoint entries outside %s: %s", prefix.rstrip("."), ignored)
    inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return remap_state_dict(inner, strip_prefixes=WRAPPERS)


def encoder_state_dict(
    checkpoint: Any,
    *,
    subtrees: Iterable[str] = ENCODER_SUBTREES,
    drop: Iterable[str] = NOT_ENCODER,
) -> dict[str, torch.Tensor]:
    """The encoder weights of a loaded checkpoint (``safe_load``'s result or a state dict) with timm ViT keys.

    ``subtrees`` are unwrapped in order (each only if present); keys starting with ``drop`` are left out.
    """
    state = remap_state_dict(extract_state_dict(checkpoint), strip_prefixes=WRAPPERS)
    for prefix in subtrees:
        state = keep_subtree(state, prefix)
    state = drop_probe_block(state)
    drop = tuple(drop)
    return {k: v for k, v in state.items() if not (drop and k.startswith(drop))}


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
