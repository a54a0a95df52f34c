"""Reading MoCo-v3 checkpoints and exporting the base encoder as a plain timm ViT state dict.

Accepted layouts (read with ``weights_only=True``):

* the official releases (facebookresearch/moco-v3, e.g. ``vit-s-300ep.pth.tar``): ``{"state_dict":
  {"module.base_encoder.cls_token": ..., "module.base_encoder.head.0.weight": ..., "module.momentum_encoder.*",
  "module.predictor.*"}, "optimizer": ..., ...}``, where each encoder's ``head`` is its projector;
* MAE-Lite's MoCo-v3 checkpoints: the same keys under ``{"model": ...}`` (with or without ``module.``);
* vislite Lightning checkpoints: ``{"state_dict": {"model.base_encoder.*", "model.base_projector.*", ...}}``;
* a plain state dict in either key layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from vislite_common.checkpoint import (
    CheckpointError,
    export_backbone,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)
from vislite_pretrain.mocov3.model import MoCoV3

WRAPPERS = ("module.", "_orig_mod.", "model.")
"""Prefixes of DDP, ``torch.compile`` and the LightningModule attribute, stripped wherever they lead a key."""
BASE = "base_encoder."
_HEADS = {"base_encoder.head.": "base_projector.", "momentum_encoder.head.": "momentum_projector."}


def is_mocov3_state(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the keys (wrapper prefixes stripped) are a MoCo model's: some start with ``base_encoder.``."""
    return any(key.startswith(BASE) for key in state_dict)


def to_vislite_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Any accepted layout -> :class:`MoCoV3`'s keys (wrappers stripped, encoder ``head.*`` -> ``*_projector.*``)."""
    return remap_state_dict(state_dict, strip_prefixes=WRAPPERS, rename=_HEADS)


def to_reference_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:class:`MoCoV3`'s keys -> the reference's (each projector back as its encoder's ``head``), without the
    ``module.`` prefix."""
    inverse = {new: old for old, new in _HEADS.items()}
    return remap_state_dict(state_dict, strip_prefixes=(), rename=inverse)


def base_encoder_state(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The base encoder's weights as plain timm ViT keys (``cls_token``, ``blocks.0.attn.qkv.weight``, ...).

    The projector (the reference's ``base_encoder.head.*``), predictor and momentum branch are left out.
    """
    state = to_vislite_keys(state_dict)
    if not is_mocov3_state(state):
        raise CheckpointError(f"not a MoCo-v3 checkpoint: no key starts with {BASE!r} (first keys: {list(state)[:5]})")
    return {key[len(BASE) :]: value for key, value in state.items() if key.startswith(BASE)}


def load_mocov3(path: str | os.PathLike, *, model: MoCoV3) -> MoCoV3:
    """Load a whole MoCo-v3 checkpoint (any accepted layout) into ``model``; every key must match.

    Raises :class:`~vislite_common.checkpoint.CheckpointError` naming missing, unexpected or mismatched keys.
    """
    state = to_vislite_keys(extract_state_dict(safe_load(path)))
    try:
        load_into(model, state)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return model


def export_encoder(model: nn.Module, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Write MoCo-v3's base encoder as a plain timm ViT state dict and return it.

    The keys are those of ``timm.create_model("vislite_vit_tiny", num_classes=0, global_pool="token",
    fc_norm=False)`` (no head); fine-tuning and probing configs load the file with ``init=<path>``.
    """
    moco = getattr(model, "_orig_mod", model)  # a torch.compile wrapper
    if not isinstance(moco, MoCoV3):
        raise TypeError(f"expected a MoCoV3 model, got {type(moco).__name__}")
    return export_backbone(moco.base_encoder, path)
