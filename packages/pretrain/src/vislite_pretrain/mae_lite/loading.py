"""Loading MAE-lite weights and exporting the encoder as a plain timm ViT state dict.

Accepted checkpoint layouts (all read with ``weights_only=True``; pickled objects are refused):

* MAE-Lite's released pre-training checkpoints, ``{"model": state_dict, "optimizer": ..., ...}``, whose keys are
  the reference MAE's behind MAE-Lite's wrapper: ``model.cls_token``, ``model.blocks.0.attn.qkv.weight``, ...,
  ``model.decoder_pred.bias`` (``module.model.*`` when saved from DDP). Sibling entries of distillation runs
  (``tch_model.*``, ``attn_adapter.*``, ``ema_model.*``) are ignored.
* vislite Lightning checkpoints, ``{"state_dict": {"model.encoder.cls_token": ..., "model.decoder_embed.weight":
  ...}}`` (the LightningModule holds the MAE as ``model``; other attributes are ignored).
* a plain state dict in the reference layout (``cls_token``, ``decoder_embed.weight``, ...) or vislite's
  (``encoder.cls_token``, ``decoder_embed.weight``, ...).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import torch
from torch import nn

from vislite_common.checkpoint import (
    CheckpointError,
    export_backbone,
    extract_state_dict,
    load_into,
    resize_pos_embed,
    safe_load,
)
from vislite_pretrain.mae_keys import to_mae_keys
from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT, create_mae
from vislite_pretrain.mae_lite.pos_embed import sincos_pos_embed

log = logging.getLogger(__name__)

DECODER_KEYS = ("mask_token", "decoder_")
"""Key prefixes of the MAE's decoder (everything else belongs to the encoder)."""


def to_vislite_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map any accepted layout onto :class:`MaskedAutoencoderViT`'s keys (``encoder.*``, ``decoder_*``, ...).

    Wrapper prefixes (``module.``, ``_orig_mod.``) are stripped; when keys live under ``model.`` only that subtree
    is kept (the rest, e.g. a distillation teacher, is logged and dropped), then likewise under ``student.`` (vislite's
    distillation wrapper); reference encoder keys get ``encoder.``.
    """
    return to_mae_keys(state_dict, outside_encoder=DECODER_KEYS)


def to_reference_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """vislite MAE keys -> the reference MAE's (``encoder.`` dropped): the inverse of :func:`to_vislite_keys`."""
    return {k.removeprefix("encoder."): v for k, v in state_dict.items()}


def _infer_model(state: Mapping[str, torch.Tensor]) -> MaskedAutoencoderViT:
    """Build the :data:`MAE_MODELS` architecture whose widths and patch size match ``state``, at its resolution."""
    try:
        pos = state["encoder.pos_embed"]  # [1, 1+L, D]
        proj = state["encoder.patch_embed.proj.weight"]  # [D, C, p, p]
        dec = state["decoder_embed.weight"]  # [Dd, D]
    except KeyError as error:
        raise CheckpointError(f"cannot infer the MAE architecture: the checkpoint has no {error.args[0]!r}") from None
    widths = (pos.shape[-1], dec.shape[0], proj.shape[-1])  # (encoder, decoder, patch)
    known = {
        (192, 96, 16): "mae_vit_tiny_patch16",
        (384, 192, 16): "mae_vit_small_patch16",
        (768, 512, 16): "mae_vit_base_patch16",
        (32, 32, 8): "mae_test_vit",
    }
    if widths not in known:
        raise CheckpointError(
            f"no known MAE has encoder/decoder width and patch size {widths}; build the model and pass model=..."
        )
    grid = round((pos.shape[1] - 1) ** 0.5)
    if grid * grid != pos.shape[1] - 1:
        raise CheckpointError(f"position table of {pos.shape[1] - 1} patches is not square; pass model=...")
    return create_mae(known[widths], img_size=grid * widths[2])


def _fit_pos_tables(state: dict[str, torch.Tensor], model: MaskedAutoencoderViT) -> None:
    """Fit the checkpoint's position tables to ``model``'s grid: a fixed sin-cos table (MAE's) is replaced by
    the model's own (exact at any grid); any other table is resized bicubically."""
    target = model.state_dict()
    for key in ("encoder.pos_embed", "decoder_pos_embed"):
        if key not in state or key not in target or state[key].shape == target[key].shape:
            continue
        table = state[key]
        grid = round((table.shape[1] - 1) ** 0.5)
        if grid * grid == table.shape[1] - 1 and torch.allclose(
            table.float(), sincos_pos_embed(table.shape[-1], grid), atol=1e-5
        ):
            state[key] = target[key].clone()
        else:
            state[key] = resize_pos_embed(table, model.grid_size, num_prefix_tokens=1)


def load_mae_lite(path: str | os.PathLike, *, model: MaskedAutoencoderViT | None = None) -> MaskedAutoencoderViT:
    """Load a pre-training checkpoint (MAE-Lite release, vislite Lightning, plain state dict) into an MAE.

    Args:
        path: the checkpoint file.
        model: the MAE to load into; by default the architecture is inferred from the weights (ViT-Tiny/16,
            ViT-Small/16 or the test model) at the checkpoint's resolution.

    Every MAE key must match: missing or unexpected keys and shape mismatches raise
    :class:`~vislite_common.checkpoint.CheckpointError` naming them. Position tables of another grid are fitted
    to the model's (sin-cos tables are regenerated exactly).
    """
    state = to_vislite_keys(extract_state_dict(safe_load(path)))
    if model is None:
        model = _infer_model(state)
    _fit_pos_tables(state, model)
    try:
        load_into(model, state)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return model


def export_encoder(model: nn.Module, path: str | os.PathLike) -> None:
    """Write the MAE's encoder as a plain timm ViT state dict.

    Keys: ``cls_token``, ``pos_embed`` (the sin-cos table), ``patch_embed.proj.*``, ``blocks.*``, ``norm.*`` --
    those of ``timm.create_model("vislite_vit_tiny", num_classes=0, global_pool="token", fc_norm=False)``, which
    loads the file strictly and reproduces the encoder's ``forward_features``. timm's default ViT-Tiny (global
    average pooling with ``fc_norm``) loads it as MAE fine-tuning does: ``norm`` unused, ``fc_norm`` and the head
    fresh. Pass ``pretrained_cfg_overlay=dict(file=path, num_classes=0)`` to ``timm.create_model(...,
    pretrained=True, num_classes=K)`` so that timm loads it without the (absent) classifier for any ``K``.
    """
    mae = getattr(model, "_orig_mod", model)  # a torch.compile wrapper
    if not isinstance(mae, MaskedAutoencoderViT):
        raise TypeError(f"expected a MaskedAutoencoderViT, got {type(mae).__name__}")
    export_backbone(mae.encoder, path)
