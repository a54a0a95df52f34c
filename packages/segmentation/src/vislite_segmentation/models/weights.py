"""Backbone weights from local files: vislite pre-training / fine-tuning / segmentation checkpoints, released
MAE-Lite checkpoints and plain timm state dicts.

The container and wrapper handling (``state_dict`` / ``model`` entries, ``module.`` / ``model.`` /
``_orig_mod.`` / ``backbone.`` prefixes, position-table resizing, key checks) is vislite-common's
(:mod:`vislite_common.checkpoint`); this module only maps the encoder part of each layout onto a timm ViT.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch import nn

from vislite_common.backbones.encoder_weights import NOT_ENCODER as ENCODER_NOT_ENCODER
from vislite_common.backbones.encoder_weights import encoder_state_dict
from vislite_common.checkpoint import adapt_state_dict_to_model, load_into, safe_load

log = logging.getLogger(__name__)

NOT_ENCODER = (*ENCODER_NOT_ENCODER, "neck.", "decode_head.", "auxiliary_head.")
"""Key prefixes that never belong to the encoder: an MAE decoder, a classifier, a segmentation neck or head."""
SUBTREES = ("model.", "backbone.", "student.", "base_encoder.", "encoder.", "vit.")
"""Sub-modules holding the encoder: a distilled student, MoCo-v3's query encoder, vislite's MAE encoder, the
segmentation wrapper's ViT."""
FRESH_OK = ("norm.", "fc_norm.", "head.")
"""Encoder keys a segmentation backbone may lack (final norm and classifier are unused by dense heads)."""


def encoder_state(checkpoint: Any) -> dict[str, torch.Tensor]:
    """The encoder entries of a loaded checkpoint, with the encoder's own key names.

    ``model.`` / ``backbone.`` wrappers, ``student.*`` (vislite distillation), ``base_encoder.*`` (MoCo-v3),
    ``encoder.*`` (vislite MAE) and ``vit.*`` (segmentation checkpoints) subtrees are unwrapped; an MAE decoder,
    classifier heads and segmentation necks/heads are dropped; D²-MAE's probe block is dropped by vislite-common.
    """
    return encoder_state_dict(checkpoint, subtrees=SUBTREES, drop=NOT_ENCODER)


def load_backbone_weights(vit: nn.Module, path: str | os.PathLike) -> list[str]:
    """Load the encoder found in ``path`` into the timm ViT ``vit``; return the keys left at initialisation.

    The position table is resized to ``vit``'s grid. Layer-scale gammas (``ls1`` / ``ls2``) absent from the file
    keep their initial value, and the final norm / classifier may be missing on either side; any other missing
    or unexpected key, or a shape mismatch, raises :class:`~vislite_common.checkpoint.CheckpointError`.
    """
    state = encoder_state(safe_load(path))
    state = adapt_state_dict_to_model(state, vit)
    layer_scale = tuple(k for k in vit.state_dict() if ".ls1." in k or ".ls2." in k)
    missing, unexpected = load_into(vit, state, allow_missing=(*FRESH_OK, *layer_scale), allow_unexpected=FRESH_OK)
    log.info("loaded backbone from %s (left at init: %s; unused: %s)", path, missing, unexpected)
    return missing
