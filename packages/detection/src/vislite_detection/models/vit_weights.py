"""Loading pre-trained ViT encoders (MAE-lite and friends) into a detection backbone, from local files only.

Accepted files (all read with ``weights_only=True``):

* a vislite Lightning checkpoint of MAE-lite pre-training (``state_dict`` with ``model.encoder.*`` and the
  decoder's ``model.decoder_*``) or of a fine-tuned classifier (``model.blocks.*``, ``model.head.*``);
* a released MAE-Lite checkpoint, ``{"model": {"model.cls_token", "model.blocks.0...", "model.decoder_*"}}``
  (``module.`` prefixes from DDP and distillation siblings such as ``tch_model.*`` are ignored);
* a plain timm ViT state dict (``cls_token``, ``pos_embed``, ``blocks.*``, ``norm.*``, ``head.*``).

The decoder, the final norms and the classifier are dropped (the detection backbone reads the last block's
tokens, as ViTDet does); the position table is resized to the model's grid; every other key must match.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import torch
from torch import nn

from vislite_common.checkpoint import (
    CheckpointError,
    adapt_state_dict_to_model,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)

log = logging.getLogger(__name__)

WRAPPERS = ("module.", "_orig_mod.")
SUBTREES = ("model.", "student.", "encoder.")
"""Containers an encoder sits in: a Lightning module / MAE-Lite wrapper, a distillation student, an MAE."""
NOT_ENCODER = ("mask_token", "decoder_", "head.", "fc_norm.", "norm.")


def _subtree(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix`` (prefix removed) when there are any, else ``state`` unchanged."""
    if not any(k.startswith(prefix) for k in state):
        return dict(state)
    ignored = sorted({k.split(".", 1)[0] for k in state if not k.startswith(prefix)})
    if ignored:
        log.info("ignoring checkpoint entries outside %r: %s", prefix, ignored)
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def vit_encoder_state(checkpoint: object) -> dict[str, torch.Tensor]:
    """The timm-ViT encoder keys (``cls_token``, ``pos_embed``, ``patch_embed.*``, ``blocks.*``) of a checkpoint."""
    state = remap_state_dict(extract_state_dict(checkpoint), strip_prefixes=WRAPPERS)
    for prefix in SUBTREES:
        state = _subtree(state, prefix)
    state = {k: v for k, v in state.items() if not k.startswith(NOT_ENCODER)}
    if "patch_embed.proj.weight" not in state:
        raise CheckpointError(
            f"no ViT encoder found: expected 'patch_embed.proj.weight' (optionally under model./encoder.), "
            f"got keys {sorted(state)[:8]}"
        )
    return state


def load_vit_encoder(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the ViT encoder weights in ``path`` into the timm ViT ``model`` (see the module docstring)."""
    try:
        state = adapt_state_dict_to_model(vit_encoder_state(safe_load(path)), model)
        load_into(model, state, allow_missing=NOT_ENCODER)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    log.info("loaded the ViT encoder of %s", path)
    return model
