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
from vislite_common.backbones.vit import adapt_attention_state
from vislite_common.checkpoint import (
    adapt_state_dict_to_model,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)
from vislite_pretrain.distill.keys import drop_probe_block, student_weights
from vislite_pretrain.hiera_mae.loading import is_pretraining_checkpoint, load_hiera_encoder_weights
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


def load_encoder_weights(model: nn.Module, path: str | os.PathLike, *, qkv_bias: str = "split") -> nn.Module:
    """Load the encoder weights found in ``path`` into the timm ViT ``model``; the classifier stays fresh.

    A model with global average pooling has ``fc_norm`` instead of the encoder's final ``norm``: as in
    MAE-Lite's fine-tuning, ``norm`` is then dropped and ``fc_norm`` starts from its initialisation.
    A relative-position model (``rel_pos_bias=True``) keeps zero tables where the file has none (a pre-trained
    encoder), as MAE-Lite's RPE fine-tune does. A file's ``qkv.bias`` meeting the model's ``q_bias`` / ``v_bias``
    is split into them (``qkv_bias="split"``, the same attention) or, as MAE-Lite's non-strict load does, left out
    with ``q_bias`` / ``v_bias`` at zero (``"drop"``). Any other missing or unexpected key is an error naming it.
    """
    if qkv_bias not in ("split", "drop"):
        raise ValueError(f"qkv_bias must be 'split' or 'drop', got {qkv_bias!r}")
    state = encoder_weights(path)
    target = model.state_dict()
    fresh = ["head.", "fc_norm.", *(k for k in target if k.endswith("relative_position_bias_table"))]
    if qkv_bias == "drop":
        drop = [k for k in state if k.endswith("attn.qkv.bias") and k not in target]
        state = {k: v for k, v in state.items() if k not in drop}
        fresh += [k.replace("qkv.bias", name) for k in drop for name in ("q_bias", "v_bias")]
    state = adapt_state_dict_to_model(adapt_attention_state(state, model), model, drop_mismatched=("head.",))
    uses_fc_norm = isinstance(getattr(model, "norm", None), nn.Identity)
    missing, unexpected = load_into(
        model, state, allow_missing=tuple(fresh), allow_unexpected=("norm.",) if uses_fc_norm else ()
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
    qkv_bias_init: str = "split",
    **model_kwargs: Any,
) -> nn.Module:
    """A ViT classifier (MAE-Lite fine-tuning: global average pooling + ``fc_norm``), optionally initialised.

    ``rel_pos_bias=True`` (and ``qv_bias``) build MAE-Lite's ``vit_tiny_patch16_rpe`` ("impr.+RPE");
    ``qkv_bias_init`` is :func:`load_encoder_weights`' ``qkv_bias``.

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
            **model_kwargs,
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
    return load_encoder_weights(model, init, qkv_bias=qkv_bias_init) if init else model


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
    load_final_norm: bool | None = None,
) -> nn.Module:
    """A Hiera classifier (mean pooling, ``head.norm``, linear head; 3 q-pooling stages), optionally initialised
    from a checkpoint's encoder with a fresh classifier.

    ``load_final_norm=None`` follows MAE-Lite's fine-tuning: from a Hiera-MAE pre-training checkpoint the final
    ``head.norm`` starts fresh (the checkpoint's ``encoder_norm`` does not match the classifier's ``norm`` there, so
    it is never loaded); from an encoder-only or classifier file it is loaded. ``True`` always loads
    ``encoder_norm`` as ``head.norm`` (timm's mapping of Hiera's MAE weights); ``False`` never does."""
    model = timm.create_model(
        name, num_classes=num_classes, img_size=img_size, drop_path_rate=drop_path_rate, global_pool=global_pool
    )
    if not init:
        return model
    if load_final_norm is None:
        load_final_norm = not is_pretraining_checkpoint(init)
    return load_hiera_encoder_weights(model, init, fresh=() if load_final_norm else ("head.norm.",))
