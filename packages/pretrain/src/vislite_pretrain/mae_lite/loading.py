"""Loading MAE-lite weights (released MAE-Lite checkpoints, vislite Lightning checkpoints, plain state dicts)
and exporting the encoder as a plain timm ViT state dict."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from vislite_common.checkpoint import (
    adapt_state_dict_to_model,
    atomic_save,
    extract_state_dict,
    load_into,
    remap_state_dict,
    safe_load,
)
from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT, mae_vit_tiny_patch16

DECODER_KEYS = ("mask_token", "decoder_")


def to_vislite_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map MAE key names (``cls_token``, ``blocks.0...``, ``decoder_*``) onto :class:`MaskedAutoencoderViT`.

    Accepts the reference layout (MAE / MAE-Lite, optionally wrapped in ``module.`` or ``model.``), vislite's
    own layout (``encoder.*``) and vislite Lightning checkpoints (``model.encoder.*``).
    """
    state = remap_state_dict(state_dict)
    return {
        (k if k.startswith(("encoder.", *DECODER_KEYS)) else f"encoder.{k}"): v for k, v in state.items()
    }


def load_mae_lite(path: str | os.PathLike, *, model: MaskedAutoencoderViT | None = None) -> MaskedAutoencoderViT:
    """Load an MAE-lite checkpoint into ``model`` (default: MAE-Lite ViT-Tiny at the checkpoint's resolution).

    Released MAE-Lite pre-training checkpoints hold ``{"model": state_dict}`` in the reference key format;
    vislite Lightning checkpoints hold ``{"state_dict": {"model.encoder...": ...}}``. Every key must match
    (missing or unexpected keys are listed in the error); position tables are resized to the model's grid.
    """
    state = to_vislite_keys(extract_state_dict(safe_load(path)))
    if model is None:
        pos = state.get("encoder.pos_embed")
        grid = int(round(((pos.shape[1] - 1) if pos is not None else 196) ** 0.5))
        model = mae_vit_tiny_patch16(img_size=grid * 16)
    encoder_state = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    encoder_state = adapt_state_dict_to_model(encoder_state, model.encoder)
    state = {**{f"encoder.{k}": v for k, v in encoder_state.items()}, **{
        k: v for k, v in state.items() if not k.startswith("encoder.")
    }}
    load_into(model, state)
    return model


def export_encoder(model: MaskedAutoencoderViT, path: str | os.PathLike) -> None:
    """Write the encoder as a plain timm ViT state dict (``cls_token``, ``pos_embed``, ``blocks.*``, ``norm.*``).

    It loads with ``timm.create_model("vislite_vit_tiny", num_classes=0, global_pool="token", fc_norm=False,
    pretrained=True, pretrained_cfg_overlay=dict(file=path))``, or into a fine-tuning model (GAP + ``fc_norm``)
    through :func:`vislite_pretrain.weights.load_encoder_weights`.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
    atomic_save(state, path)
