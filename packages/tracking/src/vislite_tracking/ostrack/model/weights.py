"""Loading weights: backbones from pre-training checkpoints, whole trackers from vislite or released OSTrack files.

Backbone sources (:func:`load_backbone_weights`), all read with ``weights_only=True``:

* vislite Lightning checkpoints of MAE-lite / D-MAE / D²-MAE pre-training (``state_dict`` → ``model.encoder.*``,
  ``model.student.encoder.*``) or of a fine-tuned classifier (``model.*``);
* released MAE-Lite checkpoints ``{"model": {"model.blocks.0...": ...}}`` (``module.`` wrappers too);
* plain timm / MAE state dicts (``blocks.0.attn.qkv.weight``, ...).

As the reference loader, decoder / teacher / classifier entries and blocks beyond the model's depth (D²-MAE's probe
block) are ignored; every missing backbone key is an error naming it.

Tracker sources (:func:`tracker_state_dict`): vislite training checkpoints (``state_dict`` with ``model.*`` and the
build arguments under ``ostrack``), plain state dicts of :class:`OSTrack`, and released OSTrack / MAE-Lite tracking
checkpoints ``{"net": state_dict}`` through :func:`map_released_ostrack_keys`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from vislite_common.backbones.encoder_weights import encoder_state_dict, keep_subtree
from vislite_common.checkpoint import (
    CheckpointError,
    adapt_state_dict_to_model,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)

log = logging.getLogger(__name__)

_WRAPPERS = ("module.", "_orig_mod.")
_NOT_BACKBONE = ("decoder_", "mask_token", "head.", "fc_norm.", "tch_model.", "attn_adapter.", "ema_model.")
_RELEASED_HEAD = re.compile(r"^box_head\.conv(?P<layer>[1-5])_(?P<branch>ctr|offset|size)\.(?P<rest>.+)$")
_RELEASED_DROPPED = ("backbone.cls_token", "backbone.pos_embed")  # unused by the one-stream model
BACKBONE_BY_WIDTH = {192: "vislite_vit_tiny", 384: "vislite_vit_small", 768: "vislite_vit_base"}
"""The registered ViT of a released tracker, told by its token width."""


def backbone_state_dict(checkpoint: Any) -> dict[str, torch.Tensor]:
    """The encoder weights of a pre-training checkpoint, in timm ViT key names."""
    state = encoder_state_dict(checkpoint, drop=())
    if "norm.weight" not in state and "fc_norm.weight" in state:  # a fine-tuned classifier with pooled fc_norm
        state["norm.weight"], state["norm.bias"] = state.pop("fc_norm.weight"), state.pop("fc_norm.bias")
    return {k: v for k, v in state.items() if not k.startswith(_NOT_BACKBONE)}


def load_backbone_weights(vit: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the encoder found in ``path`` into the timm ViT ``vit`` (position table resized to its grid)."""
    state = backbone_state_dict(safe_load(path))
    target = vit.state_dict()
    extra = sorted(k for k in state if k not in target)
    if extra:
        log.info("%s: ignoring %d entries the backbone does not have: %s", path, len(extra), extra[:8])
    state = adapt_state_dict_to_model({k: v for k, v in state.items() if k in target}, vit)
    try:
        load_into(vit, state, allow_missing=("head.",))
    except CheckpointError as error:
        raise CheckpointError(f"{path}: not a backbone checkpoint for this ViT: {error}") from None
    return vit


def map_released_ostrack_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Released OSTrack / MAE-Lite tracker keys -> :class:`OSTrack` keys.

    ``box_head.conv{1-4}_{b}.{j}.*`` -> ``box_head.{b}.{0-3}.{j}.*``; ``box_head.conv5_{b}.*`` -> ``box_head.{b}.4.*``;
    ``backbone.cls_token`` and the 14x14 ``backbone.pos_embed`` are dropped (the tracker uses ``pos_embed_z/x``);
    every backbone key keeps its name.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in _RELEASED_DROPPED:
            continue
        match = _RELEASED_HEAD.match(key)
        if match:
            key = f"box_head.{match['branch']}.{int(match['layer']) - 1}.{match['rest']}"
        out[key] = value
    return out


def released_build_args(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Architecture of a released OSTrack checkpoint, read off its tensors (CE settings: OSTrack's defaults)."""
    try:
        width = int(state["backbone.pos_embed_x"].shape[-1])
        patch = int(state["backbone.patch_embed.proj.weight"].shape[-1])
        lz, lx = state["backbone.pos_embed_z"].shape[1], state["backbone.pos_embed_x"].shape[1]
        head = int(state["box_head.conv1_ctr.0.weight"].shape[0])
    except KeyError as error:
        raise CheckpointError(f"released OSTrack checkpoint lacks {error.args[0]!r}") from None
    if width not in BACKBONE_BY_WIDTH:
        raise CheckpointError(f"no registered ViT of width {width}; known: {sorted(BACKBONE_BY_WIDTH)}")
    return {
        "backbone": BACKBONE_BY_WIDTH[width],
        "template_size": round(lz**0.5) * patch,
        "search_size": round(lx**0.5) * patch,
        "ce_loc": [3, 6, 9],
        "ce_keep_ratio": [0.7, 0.7, 0.7],
        "head_channels": head,
        "backbone_kwargs": {},
    }


def tracker_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """``(OSTrack state dict, build arguments or None)`` from a vislite or released tracker checkpoint."""
    checkpoint = safe_load(path)
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("net"), Mapping):  # released OSTrack
        state = remap_state_dict(checkpoint["net"], strip_prefixes=_WRAPPERS)
        return map_released_ostrack_keys(state), released_build_args(state)
    build_args = checkpoint.get("ostrack") if isinstance(checkpoint, Mapping) else None
    state = remap_state_dict(extract_state_dict(checkpoint), strip_prefixes=_WRAPPERS)
    state = keep_subtree(state, "model.")
    if any(k.startswith("box_head.conv1_ctr") for k in state):
        return map_released_ostrack_keys(state), build_args or released_build_args(state)
    return state, build_args
