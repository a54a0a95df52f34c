"""Loading Hiera-MAE weights, and exporting the encoder as a plain timm ``vislite_hiera_tiny46`` state dict.

Accepted checkpoint layouts (all read with ``weights_only=True``; pickled objects are refused):

* MAE-Lite's released pre-training checkpoints (``hiera_mae_exp.py`` / ``hiera_mae_distill_exp.py``),
  ``{"model": state_dict, "optimizer": ..., ...}`` whose keys are the reference's behind the training wrapper:
  ``model.pos_embed``, ``model.blocks.0.attn.qkv.weight``, ``model.encoder_norm.weight``,
  ``model.multi_scale_fusion_heads.0.weight``, ``model.decoder_pred.bias`` (``module.model.*`` from DDP).
  Sibling entries of distillation runs (``tch_model.*``, ``attn_adapter.*``, ``ema_model.*``) are ignored.
* Hiera's released MAE checkpoints (facebookresearch/hiera ``mae_hiera_base_224.pth``, the distillation
  teacher), ``{"model_state": state_dict}`` in the same reference key format.
* vislite Lightning checkpoints, ``{"state_dict": {"model.encoder.pos_embed": ..., ...}}``, also of the
  distillation module (``model.student.*``; teacher and adapter are ignored).
* plain state dicts in either layout, and timm Hiera state dicts (encoder only, for fine-tuning).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

import torch
from torch import nn

from vislite_common.checkpoint import (
    STATE_DICT_KEYS,
    CheckpointError,
    adapt_state_dict_to_model,
    export_backbone,
    extract_state_dict,
    load_into,
    resize_pos_embed,
    safe_load,
)
from vislite_pretrain.hiera_mae.model import HieraMAE, create_hiera_mae
from vislite_pretrain.mae_keys import to_mae_keys

log = logging.getLogger(__name__)

CHECKPOINT_KEYS = ("model_state", *STATE_DICT_KEYS)
"""Where the weights live in a checkpoint container: Hiera's ``model_state`` first, then the usual ones."""
MAE_KEYS = ("multi_scale_fusion_heads.", "mask_token", "decoder_")
"""Key prefixes of the MAE outside its encoder."""
ENCODER_RENAMES = {"encoder_norm.": "head.norm.", "norm.": "head.norm.", "head.projection.": "head.fc."}
"""Reference (facebookresearch/hiera) encoder names -> timm's, as timm's own Hiera checkpoint filter maps them."""


def _encoder_key(key: str) -> str:
    for old, new in ENCODER_RENAMES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def to_vislite_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map any accepted layout onto :class:`HieraMAE`'s keys (``encoder.*``, ``multi_scale_fusion_heads.*``, ...).

    Wrapper prefixes are stripped; a ``model.`` and then a ``student.`` subtree, when present, is all that is
    kept; reference encoder keys get ``encoder.`` with ``encoder_norm`` -> ``encoder.head.norm``.
    """
    return to_mae_keys(state_dict, outside_encoder=MAE_KEYS, rename_encoder_key=_encoder_key)


def to_reference_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:class:`HieraMAE` keys -> the reference's (``encoder.`` dropped, ``head.norm`` -> ``encoder_norm``)."""
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("encoder.")
        out["encoder_norm." + key.removeprefix("head.norm.") if key.startswith("head.norm.") else key] = value
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The checkpoint at ``path`` in :class:`HieraMAE`'s key layout (see :func:`to_vislite_keys`)."""
    return to_vislite_keys(extract_state_dict(safe_load(path), keys=CHECKPOINT_KEYS))


def _infer_model(state: Mapping[str, torch.Tensor]) -> HieraMAE:
    """Build the :data:`HIERA_MAE_MODELS` architecture whose widths and depth match ``state``, at its resolution."""
    try:
        pos = state["encoder.pos_embed"]  # [1, T, D]
        dec = state["decoder_embed.weight"]  # [Dd, D_last]
    except KeyError as error:
        raise CheckpointError(
            f"cannot infer the Hiera MAE architecture: no {error.args[0]!r} in the checkpoint"
        ) from None
    depth = len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")})
    known = {(46, 12, 96): "mae_hiera_tiny46", (96, 24, 512): "mae_hiera_base", (8, 4, 16): "mae_test_hiera"}
    arch = (pos.shape[-1], depth, dec.shape[0])
    if arch not in known:
        raise CheckpointError(f"no known Hiera MAE has (width, blocks, decoder width) {arch}; pass model=...")
    side = math.isqrt(pos.shape[1])
    if side * side != pos.shape[1]:
        raise CheckpointError(f"position table of {pos.shape[1]} tokens is not square; pass model=...")
    return create_hiera_mae(known[arch], img_size=side * 4)  # patch stride 4


def _fit_pos_tables(state: dict[str, torch.Tensor], model: HieraMAE) -> None:
    """Resize learned position tables of another grid (another input size) to the model's, bicubically."""
    grids = {"encoder.pos_embed": tuple(model.encoder.tokens_spatial_shape), "decoder_pos_embed": model.grid_size}
    target = model.state_dict()
    for key, grid in grids.items():
        if key in state and state[key].shape != target[key].shape:
            state[key] = resize_pos_embed(state[key], grid, num_prefix_tokens=0)


def load_hiera_mae(path: str | os.PathLike, *, model: HieraMAE | None = None) -> HieraMAE:
    """Load a Hiera-MAE pre-training checkpoint (MAE-Lite or Hiera release, vislite Lightning, plain) into a model.

    Args:
        path: the checkpoint file.
        model: the MAE to load into; by default the architecture is inferred from the weights (Hiera-Tiny(46),
            Hiera-Base or the test model) at the checkpoint's resolution.

    Every key must match: missing or unexpected keys and shape mismatches raise
    :class:`~vislite_common.checkpoint.CheckpointError` naming them. Position tables of another grid are resized.
    """
    state = read_state_dict(path)
    if model is None:
        model = _infer_model(state)
    _fit_pos_tables(state, model)
    try:
        load_into(model, state)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return model


def encoder_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The Hiera encoder weights of any accepted checkpoint, in timm's key layout (fusion heads, decoder and
    mask token dropped; ``encoder_norm`` as ``head.norm``, as timm's ``hiera_*.mae`` weights have it)."""
    state = read_state_dict(path)
    encoder = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not encoder:
        raise CheckpointError(f"{path} holds no Hiera encoder weights; keys start with {sorted(state)[:8]}")
    return encoder


def is_pretraining_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a whole Hiera MAE (decoder, mask token or fusion heads beside the encoder)."""
    return any(k.startswith(MAE_KEYS) for k in read_state_dict(path))


def load_hiera_encoder_weights(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    allow_missing: tuple[str, ...] = ("head.fc.",),
    fresh: tuple[str, ...] = (),
) -> nn.Module:
    """Load the Hiera encoder found in ``path`` into the timm/vislite Hiera ``model`` (q-pooling may differ: it
    has no parameters). The position table is resized to the model's input; a classifier of another size is
    left fresh, as are the keys starting with ``fresh`` (left out of the file). Any other missing or unexpected
    key raises :class:`CheckpointError` naming it."""
    state = encoder_state_dict(path)
    if fresh:
        state = {k: v for k, v in state.items() if not k.startswith(fresh)}
        allow_missing = (*allow_missing, *fresh)
    adapt = getattr(model, "adapt_state_dict", None)  # vislite Hiera: position-table resize
    if callable(adapt):
        try:
            state = adapt(state)
        except ValueError as error:
            raise CheckpointError(f"{path} does not fit {type(model).__name__}: {error}") from None
    state = adapt_state_dict_to_model(state, model, drop_mismatched=("head.fc.",))
    try:
        missing, unexpected = load_into(model, state, allow_missing=allow_missing)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    log.info("loaded %s (fresh: %s)", path, missing)
    return model


def export_encoder(model: nn.Module, path: str | os.PathLike) -> None:
    """Write the Hiera MAE's encoder as a plain timm Hiera state dict.

    Keys: ``patch_embed.proj.*``, ``pos_embed``, ``blocks.*``, ``head.norm.*`` -- those of
    ``timm.create_model("vislite_hiera_tiny46", num_classes=0)``, which loads the file strictly (its 3 q-pooling
    stages have no parameters of their own). ``timm.create_model("vislite_hiera_tiny46", pretrained=True,
    num_classes=K, pretrained_cfg_overlay=dict(file=path, num_classes=0))`` loads it with a fresh classifier.
    """
    mae = getattr(model, "_orig_mod", model)  # a torch.compile wrapper
    mae = getattr(mae, "student", mae)  # the distillation module
    if not isinstance(mae, HieraMAE):
        raise TypeError(f"expected a HieraMAE (or its distillation module), got {type(mae).__name__}")
    export_backbone(mae.encoder, path)
