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
from vislite_common.backbones.vit import adapt_attention_state
from vislite_common.checkpoint import adapt_state_dict_to_model, load_into, safe_load

log = logging.getLogger(__name__)

NOT_ENCODER = (*ENCODER_NOT_ENCODER, "neck.", "decode_head.", "auxiliary_head.")
"""Key prefixes that never belong to the encoder: an MAE decoder, a classifier, a segmentation neck or head."""
SUBTREES = ("model.", "backbone.", "student.", "base_encoder.", "encoder.", "vit.")
"""Sub-modules holding the encoder: a distilled student, MoCo-v3's query encoder, vislite's MAE encoder, the
segmentation wrapper's ViT."""
FRESH_OK = ("norm.", "fc_norm.", "head.")
"""Encoder keys a segmentation backbone may lack (final norm and classifier are unused by dense heads)."""
QV_BIAS_MODES = ("merge", "drop")
"""What becomes of a checkpoint's ``attn.q_bias`` / ``attn.v_bias`` in a backbone with a plain ``qkv.bias``."""


def encoder_state(checkpoint: Any) -> dict[str, torch.Tensor]:
    """The encoder entries of a loaded checkpoint, with the encoder's own key names.

    ``model.`` / ``backbone.`` wrappers, ``student.*`` (vislite distillation), ``base_encoder.*`` (MoCo-v3),
    ``encoder.*`` (vislite MAE) and ``vit.*`` (segmentation checkpoints) subtrees are unwrapped; an MAE decoder,
    classifier heads and segmentation necks/heads are dropped; D²-MAE's probe block is dropped by vislite-common.
    """
    return encoder_state_dict(checkpoint, subtrees=SUBTREES, drop=NOT_ENCODER)


def load_backbone_weights(vit: nn.Module, path: str | os.PathLike, *, qv_bias: str = "merge") -> list[str]:
    """Load the encoder found in ``path`` into the timm ViT ``vit``; return the keys left at initialisation.

    The position table is resized to ``vit``'s grid, a relative position bias table to its window (mmseg's
    geometric-sequence resize) and a file's ``relative_position_index`` buffers are replaced by the model's.
    Layer-scale gammas (``ls1`` / ``ls2``) and relative position tables absent from the file keep their initial
    value (1.0 and zeros, as mmseg's ``MAE``), and the final norm / classifier may be missing on either side.
    ``q_bias`` / ``v_bias`` (MAE-Lite's FT-RPE checkpoints) meet the plain ``qkv.bias`` of mmseg's ``MAE``:
    ``qv_bias="merge"`` (default) loads them as ``[q_bias, 0, v_bias]``, the same attention; ``"drop"`` leaves them
    out and ``qkv.bias`` at zero, which is what mmseg's non-strict load does. Any other missing or unexpected key,
    or a shape mismatch, raises :class:`~vislite_common.checkpoint.CheckpointError`.
    """
    if qv_bias not in QV_BIAS_MODES:
        raise ValueError(f"qv_bias must be one of {list(QV_BIAS_MODES)}, got {qv_bias!r}")
    state = encoder_state(safe_load(path))
    target = vit.state_dict()
    dropped = []
    if qv_bias == "drop":
        dropped = [k for k in state if k.endswith(("attn.q_bias", "attn.v_bias")) and k not in target]
        state = {k: v for k, v in state.items() if k not in dropped}
    state = adapt_state_dict_to_model(adapt_attention_state(state, vit), vit)
    fresh = tuple(k for k in target if ".ls1." in k or ".ls2." in k or k.endswith("relative_position_bias_table"))
    if dropped:
        fresh += tuple(k.replace("q_bias", "qkv.bias") for k in dropped if k.endswith("q_bias"))
        with torch.no_grad():
            for key in fresh:
                if key.endswith("qkv.bias"):
                    vit.get_parameter(key).zero_()
        log.info("dropped q_bias / v_bias from %s as mmseg does; qkv.bias left at zero", path)
    missing, unexpected = load_into(vit, state, allow_missing=(*FRESH_OK, *fresh), allow_unexpected=FRESH_OK)
    log.info("loaded backbone from %s (left at init: %s; unused: %s)", path, missing, unexpected)
    return missing
