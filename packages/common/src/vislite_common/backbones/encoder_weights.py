"""The ViT encoder inside any pre-training or fine-tuning checkpoint, with timm's key names.

One place for what every downstream package (detection, segmentation, tracking) needs from a pre-trained file:
a vislite Lightning checkpoint (``state_dict`` with ``model.encoder.*``, ``model.student.encoder.*`` or a
classifier's ``model.*``), a released MAE-Lite checkpoint (``{"model": {"model.blocks.0...": ...}}`` beside
distillation siblings such as ``tch_model.*``), or a plain timm / MAE state dict. DDP and ``torch.compile``
wrappers are stripped; the encoder's container sub-modules are unwrapped in turn; what lies outside is logged.
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
ENCODER_SUBTREES = ("model.", "student.", "encoder.")
"""Containers an encoder sits in, outermost first: a Lightning module or MAE-Lite's wrapper, a distillation
student, an MAE."""
NOT_ENCODER = ("mask_token", "decoder_", "head.", "fc_norm.")
"""Key prefixes beside the encoder: an MAE decoder and a classifier."""


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
    drop = tuple(drop)
    return {k: v for k, v in state.items() if not (drop and k.startswith(drop))}
