"""Vision Transformers in MAE-Lite's configuration, registered in timm's registry.

``vislite_vit_tiny`` is MAE-Lite's ViT-Tiny: embed 192, depth 12, **12 heads** (timm's default is 3), patch 16,
qkv bias, LayerNorm eps 1e-6, global average pooling with ``fc_norm`` (5,717,416 parameters with a 1000-class
head, 5,524,416 without).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from timm.models.vision_transformer import VisionTransformer as TimmVisionTransformer
from torch import nn

from vislite_common.backbones.attention import CapturableAttention
from vislite_common.backbones.interface import TransformerBackboneMixin, pretrained_cfg


class VisionTransformer(TransformerBackboneMixin, TimmVisionTransformer):
    """timm's ViT whose attention blocks can expose their pre-softmax logits.

    Adds to timm's interface (``forward_features``, ``forward_head``, ``forward_intermediates``,
    ``no_weight_decay``, ``group_matcher``):

    * :meth:`capture_attention` — a context manager yielding ``{block: logits [B, heads, N, N]}``;
    * :meth:`layer_ids` — the layer id of every parameter for layer-wise lr decay.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("attn_layer", CapturableAttention)
        kwargs.setdefault("norm_layer", partial(nn.LayerNorm, eps=1e-6))
        super().__init__(**kwargs)


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return pretrained_cfg(**kwargs)


default_cfgs = generate_default_cfgs(
    {
        "vislite_vit_tiny.untrained": _cfg(),
        "vislite_vit_small.untrained": _cfg(),
        "vislite_vit_base.untrained": _cfg(),
        "test_vislite_vit.untrained": _cfg(input_size=(3, 32, 32), crop_pct=1.0),
    }
)


def _create_vit(variant: str, pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """Build a registered variant; ``pretrained=True`` loads only from a local ``pretrained_cfg_overlay`` file."""
    return build_model_with_cfg(
        VisionTransformer,
        variant,
        pretrained,
        pretrained_filter_fn=_filter_pretrained,
        feature_cfg=dict(out_indices=3, feature_cls="getter"),
        **kwargs,
    )


def _filter_pretrained(state_dict: dict[str, torch.Tensor], model: VisionTransformer) -> dict[str, torch.Tensor]:
    """Map a local checkpoint onto ``model`` (strip wrappers, resize position embeddings)."""
    from vislite_common.checkpoint import adapt_state_dict_to_model, remap_state_dict

    return adapt_state_dict_to_model(remap_state_dict(state_dict), model)


_MAE_LITE = dict(patch_size=16, mlp_ratio=4.0, qkv_bias=True, global_pool="avg", fc_norm=True)


@register_model
def vislite_vit_tiny(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """MAE-Lite ViT-Tiny/16: embed 192, depth 12, 12 heads."""
    args = dict(_MAE_LITE, embed_dim=192, depth=12, num_heads=12)
    return _create_vit("vislite_vit_tiny", pretrained, **dict(args, **kwargs))


@register_model
def vislite_vit_small(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """MAE-Lite ViT-Small/16: embed 384, depth 12, 12 heads."""
    args = dict(_MAE_LITE, embed_dim=384, depth=12, num_heads=12)
    return _create_vit("vislite_vit_small", pretrained, **dict(args, **kwargs))


@register_model
def vislite_vit_base(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViT-Base/16: embed 768, depth 12, 12 heads."""
    args = dict(_MAE_LITE, embed_dim=768, depth=12, num_heads=12)
    return _create_vit("vislite_vit_base", pretrained, **dict(args, **kwargs))


@register_model
def test_vislite_vit(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """Tiny ViT for tests: 32 px input, patch 8, embed 32, depth 4, 4 heads."""
    args = dict(_MAE_LITE, img_size=32, patch_size=8, embed_dim=32, depth=4, num_heads=4)
    return _create_vit("test_vislite_vit", pretrained, **dict(args, **kwargs))
