"""Initialising ViTs for fine-tuning and linear probing from any pre-trained source.

Sources: a vislite Lightning checkpoint (MAE-lite pre-training or a fine-tuned classifier), a released MAE-Lite
checkpoint (``{"model": ...}`` in the reference key format), a plain timm state dict, or nothing (scratch).
MoCo-v3 checkpoints (official releases, MAE-Lite's, vislite's) give their base encoder.
Distillation checkpoints (D-MAE, D²-MAE; released or vislite) give their student, D²-MAE's with its 12 kept blocks.
Hiera names (``vislite_hiera_tiny46``) build a Hiera classifier from Hiera-MAE checkpoints (vislite, MAE-Lite or Hiera
releases, plain timm), see :func:`build_hiera_classifier`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import timm
import torch
from timm.models import is_model_in_modules
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones)
from vislite_common.checkpoint import (
    adapt_state_dict_to_model,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)
from vislite_pretrain.distill.keys import drop_probe_block, student_weights
from vislite_pretrain.hiera_mae.loading import load_hiera_encoder_weights
from vislite_pretrain.mae_lite.loading import DECODER_KEYS
from vislite_pretrain.mocov3.loading import base_encoder_state, is_mocov3_state

log = logging.getLogger(__name__)


def encoder_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ViT encoder in any accepted file (see the module docstring) with timm keys; a classifier's ``head.*``
    and ``fc_norm.*`` are kept when the file has them, an MAE decoder never is."""
    state = student_weights(remap_state_dict(extract_state_dict(safe_load(path))))  # a distilled student's own
    if is_mocov3_state(state):  # MoCo-v3: the base encoder; projector, predictor and momentum branch dropped
        state = base_encoder_state(state)
    state = {k.removeprefix("encoder."): v for k, v in state.items() if not k.startswith(DECODER_KEYS)}
    return drop_probe_block(state)  # D²-MAE: the kept blocks, final norm from the probe block's norm1


def load_encoder_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the encoder weights found in ``path`` into the timm ViT ``model``; the classifier stays fresh.

    A model with global average pooling has ``fc_norm`` instead of the encoder's final ``norm``: as in
    MAE-Lite's fine-tuning, ``norm`` is then dropped and ``fc_norm`` starts from its initialisation.
    Any other missing or unexpected key is an error naming it.
    """
    state = adapt_state_dict_to_model(encoder_weights(path), model, drop_mismatched=("head.",))
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
    **model_kwargs: Any,
) -> nn.Module:
    """A ViT classifier (MAE-Lite fine-tuning: global average pooling + ``fc_norm``), optionally initialised.

    A Hiera ``name`` (``vislite_hiera_tiny46``) is handed to :func:`build_hiera_classifier`, so the fine-tuning
    config serves both families (``model.model.name=vislite_hiera_tiny46``). Further keyword arguments (e.g.
    ``patch_size``) go to ``timm.create_model``.
    """
    if is_model_in_modules(name, ["hiera"]):
        return build_hiera_classifier(
            name,
            num_classes=num_classes,
            img_size=img_size,
            init=init,
            drop_path_rate=drop_path_rate,
            global_pool=global_pool,
        )
    model = timm.create_model(
        name,
        num_classes=num_classes,
        img_size=img_size,
        drop_path_rate=drop_path_rate,
        global_pool=global_pool,
        fc_norm=global_pool == "avg",
        **model_kwargs,
    )
    return load_encoder_weights(model, init) if init else model


def build_vit_encoder(
    name: str = "vislite_vit_tiny", *, img_size: int = 224, init: str | None = None, **model_kwargs: Any
) -> nn.Module:
    """A headless ViT with its class token and final norm (the MAE linear-probing feature extractor)."""
    model = timm.create_model(
        name, num_classes=0, img_size=img_size, global_pool="token", fc_norm=False, **model_kwargs
    )
    return load_encoder_weights(model, init) if init else model


def build_hiera_classifier(
    name: str = "vislite_hiera_tiny46",
    *,
    num_classes: int,
    img_size: int = 224,
    init: str | None = None,
    drop_path_rate: float = 0.0,
    global_pool: str = "avg",
) -> nn.Module:
    """A Hiera classifier (mean pooling, ``head.norm``, linear head; 3 q-pooling stages), optionally initialised
    from a Hiera-MAE checkpoint: its encoder, with ``encoder_norm`` as ``head.norm`` (timm's mapping of Hiera's
    MAE weights) and a fresh classifier."""
    model = timm.create_model(
        name, num_classes=num_classes, img_size=img_size, drop_path_rate=drop_path_rate, global_pool=global_pool
    )
    return load_hiera_encoder_weights(model, init) if init else model
