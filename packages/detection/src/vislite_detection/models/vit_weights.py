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

import torch
from torch import nn

from vislite_common.backbones.encoder_weights import NOT_ENCODER as ENCODER_NOT_ENCODER
from vislite_common.backbones.encoder_weights import encoder_state_dict
from vislite_common.checkpoint import CheckpointError, adapt_state_dict_to_model, load_into, safe_load

log = logging.getLogger(__name__)

NOT_ENCODER = (*ENCODER_NOT_ENCODER, "norm.")
"""Beside the encoder: MAE decoder, classifier, and the final norm (the pyramid reads the last block's tokens)."""


def vit_encoder_state(checkpoint: object) -> dict[str, torch.Tensor]:
    """The timm-ViT encoder keys (``cls_token``, ``pos_embed``, ``patch_embed.*``, ``blocks.*``) of a checkpoint."""
    state = encoder_state_dict(checkpoint, drop=NOT_ENCODER)
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
