"""Building the ViT to analyse from a checkpoint file.

Accepted files (all read with ``weights_only=True``): vislite Lightning checkpoints (MAE-lite pre-training,
fine-tuning, linear probing, MoCo-v3, D-MAE, D²-MAE), MAE-Lite's released checkpoints (``{"model": ...}``,
including distillation runs, whose teacher entries are ignored), MoCo-v3 releases and plain timm state dicts
(e.g. from ``export_encoder``). The keys are normalised as for fine-tuning
(:func:`vislite_pretrain.weights.encoder_weights`); the decoder and any classifier (``head.*``) are left out.

By default the model is the one MAE-Lite's analysis scripts build for every checkpoint, the fine-tuning ViT
(``global_pool=True``): global average pooling with ``fc_norm`` and no final ``norm``. A pre-trained checkpoint's
``norm`` is then dropped and ``fc_norm`` is fresh (weight 1, bias 0), which is what the last CKA layer sees there;
a fine-tuned classifier's ``fc_norm`` is loaded. ``global_pool=False`` keeps the checkpoint's own ``norm``
instead (class-token pooling) when it has one. Every remaining key must match the model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import timm
import torch
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones)
from vislite_common.backbones.encoder_weights import drop_probe_block
from vislite_common.checkpoint import (
    CheckpointError,
    adapt_state_dict_to_model,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)
from vislite_pretrain.mae_lite.loading import DECODER_KEYS
from vislite_pretrain.weights import encoder_weights

log = logging.getLogger(__name__)


def encoder_state_dict(path: str | os.PathLike, *, prefix: str = "") -> dict[str, torch.Tensor]:
    """The encoder weights in ``path`` with timm ViT keys (no decoder, no classifier), found as fine-tuning finds
    them (:func:`vislite_pretrain.weights.encoder_weights`: MAE, MoCo-v3, D-MAE and D²-MAE files alike).

    ``prefix`` selects a sub-module's weights instead, e.g. ``"momentum_encoder."`` of a MoCo-v3 checkpoint; it is
    stripped from the keys, and every key outside it is ignored.
    """
    if prefix:
        state = remap_state_dict(extract_state_dict(safe_load(path)))
        inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not inner:
            roots = sorted({k.split(".", 1)[0] for k in state})
            raise CheckpointError(f"{path}: no weights under prefix {prefix!r}; top-level names are {roots[:20]}")
        state = {k.removeprefix("encoder."): v for k, v in inner.items() if not k.startswith(DECODER_KEYS)}
        state = drop_probe_block(state)
    else:
        state = encoder_weights(path)
    return {k: v for k, v in state.items() if not k.startswith("head.")}


def checkpoint_img_size(state: dict[str, torch.Tensor]) -> int | None:
    """The square input size the checkpoint's position table was made for (``None`` if it has no square one)."""
    pos, proj = state.get("pos_embed"), state.get("patch_embed.proj.weight")
    if pos is None or proj is None or pos.ndim != 3 or proj.ndim != 4:
        return None
    patch_size = proj.shape[-1]  # [D, C, p, p]
    for prefix in (1, 0):  # with, then without, a class-token row
        side = round((pos.shape[1] - prefix) ** 0.5)
        if side > 0 and side * side == pos.shape[1] - prefix:
            return side * patch_size
    return None


def load_vit(
    path: str | os.PathLike,
    *,
    name: str = "vislite_vit_tiny",
    img_size: int | None = None,
    prefix: str = "",
    global_pool: bool = True,
) -> nn.Module:
    """The headless ViT ``name`` with the encoder weights of ``path``, in eval mode.

    Args:
        path: a checkpoint file (see the module docstring).
        name: a registered timm/vislite ViT (``vislite_vit_tiny``, ``vislite_vit_base``, ``test_vislite_vit``...);
            attention statistics need a vislite model (its blocks expose their logits).
        img_size: input size; by default the one the checkpoint's position table was made for. A table of
            another size is resized to it (bicubic).
        prefix: see :func:`encoder_state_dict`.
        global_pool: build MAE-Lite's fine-tuning ViT (``fc_norm``, no ``norm``; see the module docstring), as its
            CKA and attention scripts do; ``False`` keeps a pre-trained checkpoint's final ``norm``.
    """
    path = Path(path)
    state = encoder_state_dict(path, prefix=prefix)
    pooled = global_pool or any(k.startswith("fc_norm.") for k in state)
    if pooled:
        dropped = [k for k in state if k.startswith("norm.")]
        state = {k: v for k, v in state.items() if not k.startswith("norm.")}
        if dropped and not any(k.startswith("fc_norm.") for k in state):
            log.info("%s: final norm dropped, fc_norm fresh (MAE-Lite's global_pool analysis model)", path)
    if not timm.is_model(name):
        raise ValueError(f"unknown model {name!r}; expected a registered ViT such as 'vislite_vit_tiny'")
    if img_size is None:
        img_size = checkpoint_img_size(state)
    kwargs = {"img_size": img_size} if img_size is not None else {}
    model = timm.create_model(
        name, pretrained=False, num_classes=0, global_pool="avg" if pooled else "token", fc_norm=pooled, **kwargs
    )
    state = adapt_state_dict_to_model(state, model)
    try:
        load_into(model, state, allow_missing=("fc_norm.",) if pooled else ())
    except CheckpointError as error:
        raise CheckpointError(f"{path} does not fit {name}: {error}") from None
    log.info("loaded %s into %s at %s px", path, name, model.patch_embed.img_size[0])
    return model.eval()
