"""The MoCo-v3 ViT encoder: a vislite ViT with MoCo-v3's initialisation and fixed sin-cos position table.

MoCo-v3 (facebookresearch/moco-v3 ``vits.py``, copied by MAE-Lite ``projects/mocov3/vits.py``) changes a timm ViT
in four ways, all reproduced here on ``timm.create_model(name, num_classes=0, global_pool="token")``:

* a fixed 2-D sin-cos position table (``requires_grad=False``), class row zero (:func:`moco_sincos_pos_embed`);
* Linear layers xavier-uniform with zero bias, ``qkv`` initialised as three separate ``D x D`` matrices
  (timm's ``weight_init="moco"``);
* the patch projection xavier-uniform as a Linear on the flattened weight, zero bias; class token N(0, 1e-6);
* optionally a frozen random patch projection (``stop_grad_conv1``: the official recipe turns it on, MAE-Lite's
  ViT-Tiny copy off).

The encoder's output is the normalised class token (``forward_head(..., pre_logits=True)``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones in timm)
from vislite_common.backbones.registry import create_backbone
from vislite_pretrain.mae_lite.pos_embed import sincos_1d


def moco_sincos_pos_embed(dim: int, grid_size: tuple[int, int], cls_token: bool = True) -> torch.Tensor:
    """MoCo-v3's fixed table ``[1, (1 +) H*W, dim]``: ``[sin(r w), cos(r w), sin(c w), cos(c w)]`` per patch.

    ``r``/``c`` are the patch's row/column (patches in row-major order) and ``w_k = 10000^(-k / (dim/4))``.
    MoCo-v3 names the first half ``w`` but builds it from ``torch.meshgrid(grid_w, grid_h)`` ("ij" indexing),
    whose flattened first grid is the row index; this function reproduces that table exactly (square grids, the
    only ones MoCo-v3 builds). It is MAE's table (``mae_lite.pos_embed``) with its two halves swapped.
    """
    if dim % 4:
        raise ValueError(f"a 2-D sin-cos embedding needs a dimension divisible by 4, got {dim}")
    rows, cols = grid_size
    row_index, col_index = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")  # [H, W] each
    table = np.concatenate([sincos_1d(dim // 2, row_index), sincos_1d(dim // 2, col_index)], axis=1)  # [H*W, dim]
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)  # [1 + H*W, dim]
    return torch.from_numpy(table).float().unsqueeze(0)


def _check_encoder(encoder: nn.Module) -> None:
    if getattr(encoder, "cls_token", None) is None or getattr(encoder, "pos_embed", None) is None:
        raise ValueError("MoCo-v3's ViT needs a class token and an absolute position table (pos_embed)")
    if encoder.num_prefix_tokens != 1:
        raise ValueError(f"MoCo-v3's ViT has exactly one prefix token (cls), got {encoder.num_prefix_tokens}")


def init_moco_vit(encoder: nn.Module, *, stop_grad_conv1: bool = False) -> nn.Module:
    """Apply MoCo-v3's initialisation to a timm ViT in place (see the module docstring) and return it."""
    _check_encoder(encoder)
    encoder.init_weights("moco")  # Linear layers (qkv per Q/K/V), cls N(0, 1e-6); resets the norms
    with torch.no_grad():
        encoder.pos_embed.copy_(moco_sincos_pos_embed(encoder.embed_dim, tuple(encoder.patch_embed.grid_size)))
    encoder.pos_embed.requires_grad_(False)
    proj = encoder.patch_embed.proj
    bound = math.sqrt(6.0 / float(proj.weight[0].numel() + proj.out_channels))  # xavier for a [D, C*p*p] Linear
    nn.init.uniform_(proj.weight, -bound, bound)
    nn.init.zeros_(proj.bias)
    if stop_grad_conv1:
        proj.requires_grad_(False)
    return encoder


def build_moco_vit(
    name: str = "vislite_vit_tiny", *, img_size: int = 224, stop_grad_conv1: bool = False, **model_kwargs: Any
) -> nn.Module:
    """A headless vislite ViT (class-token output, final ``norm``) with MoCo-v3's initialisation; ``model_kwargs``
    go to ``timm.create_model`` (e.g. ``patch_size``, ``embed_dim`` of a test variant)."""
    encoder = create_backbone(
        name, num_classes=0, img_size=img_size, global_pool="token", fc_norm=False, **model_kwargs
    )
    return init_moco_vit(encoder, stop_grad_conv1=stop_grad_conv1)
