"""Initialising ViTs for fine-tuning and linear probing from any pre-trained source.

Sources: a vislite Lightning checkpoint (MAE-lite pre-training or a fine-tuned classifier), a released MAE-Lite
checkpoint (``{"model": ...}`` in the reference key format), a plain timm state dict, or nothing (scratch).
"""

from __future__ import annotations

import logging
import os

import timm
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones)
from vislite_common.checkpoint import (
    adapt_state_dict_to_model,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)
from vislite_pretrain.mae_lite.loading import DECODER_KEYS

log = logging.getLogger(__name__)


def load_encoder_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the encoder weights found in ``path`` into the timm ViT ``model``; the classifier stays fresh.

    A model with global average pooling has ``fc_norm`` instead of the encoder's final ``norm``: as in
    MAE-Lite's fine-tuning, ``norm`` is then dropped and ``fc_norm`` starts from its initialisation.
    Any other missing or unexpected key is an error naming it.
    """
    state = remap_state_dict(extract_state_dict(safe_load(path)))
    state = {k.removeprefix("encoder."): v for k, v in state.items() if not k.startswith(DECODER_KEYS)}
    state = adapt_state_dict_to_model(state, model, drop_mismatched=("head.",))
    uses_fc_norm = isinstance(getattr(model, "norm", None), nn.Identity)
    missing, unexpected = load_into(
        model, state, allow_missing=("head.", "fc_norm."), allow_unexpected=("norm.",) if uses_fc_norm else ()
    )
    log.info("loaded %s (fresh: %s; unused: %s)", path, missing, unexpected)
    return model


def build_vit_classifier(
    name: str = "vislite_vit_tiny",
    *,
    num_classes: int,
    img_size: int = 224,
    init: str | None = None,
    drop_path_rate: float = 0.0,
    global_pool: str = "avg",
) -> nn.Module:
    """A ViT classifier (MAE-Lite fine-tuning: global average pooling + ``fc_norm``), optionally initialised."""
    model = timm.create_model(
        name, num_classes=num_classes, img_size=img_size, drop_path_rate=drop_path_rate, global_pool=global_pool,
        fc_norm=global_pool == "avg",
    )
    return load_encoder_weights(model, init) if init else model


def build_vit_encoder(name: str = "vislite_vit_tiny", *, img_size: int = 224, init: str | None = None) -> nn.Module:
    """A headless ViT with its class token and final norm (the MAE linear-probing feature extractor)."""
    model = timm.create_model(name, num_classes=0, img_size=img_size, global_pool="token", fc_norm=False)
    return load_encoder_weights(model, init) if init else model
