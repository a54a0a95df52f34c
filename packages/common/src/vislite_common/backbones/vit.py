"""Vision Transformers in MAE-Lite's configuration, registered in timm's registry.

``vislite_vit_tiny`` is MAE-Lite's ViT-Tiny: embed 192, depth 12, **12 heads** (timm's default is 3), patch 16,
qkv bias, LayerNorm eps 1e-6, global average pooling with ``fc_norm`` (5,717,416 parameters with a 1000-class
head, 5,524,416 without).

``rel_pos_bias=True`` gives MAE-Lite's ``vit_tiny_patch16_rpe`` layout (``models_vit_rpe.py``, the "impr.+RPE"
fine-tune): a per-block relative position bias table (732 x 12 at 224 px), learned absolute ``pos_embed``,
``attn.q_bias`` / ``attn.v_bias`` with a zero key bias (``qv_bias=True``, 5,820,520 parameters with a 1000-class
head) or a plain ``attn.qkv.bias`` (``qv_bias=False``, 5,822,824), no layer scale, ``fc_norm`` on the mean of the
patch tokens. Released checkpoints load through :func:`~vislite_common.backbones.create_backbone`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from timm.models.vision_transformer import VisionTransformer as TimmVisionTransformer
from torch import nn

from vislite_common.backbones.attention import CapturableAttention, RelPosAttention
from vislite_common.backbones.interface import TransformerBackboneMixin, pretrained_cfg


class VisionTransformer(TransformerBackboneMixin, TimmVisionTransformer):
    """timm's ViT whose attention blocks can expose their pre-softmax logits.

    Adds to timm's interface (``forward_features``, ``forward_head``, ``forward_intermediates``,
    ``no_weight_decay``, ``group_matcher``):

    * :meth:`capture_attention` — a context manager yielding ``{block: logits [B, heads, N, N]}``;
    * :meth:`layer_ids` — the layer id of every parameter for layer-wise lr decay.
    """

    def __init__(self, *, rel_pos_bias: bool = False, qv_bias: bool | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("attn_layer", CapturableAttention)
        kwargs.setdefault("norm_layer", partial(nn.LayerNorm, eps=1e-6))
        super().__init__(**kwargs)
        self.rel_pos_bias = bool(rel_pos_bias)
        self.qv_bias = self.rel_pos_bias if qv_bias is None else bool(qv_bias)
        if self.rel_pos_bias or self.qv_bias:
            self._use_rel_pos_attention(kwargs)

    def _use_rel_pos_attention(self, kwargs: dict[str, Any]) -> None:
        """Swap every block's attention for :class:`RelPosAttention` (per-block table over the patch grid)."""
        qkv_bias = kwargs.get("qkv_bias", True)
        if self.qv_bias and not qkv_bias:
            raise ValueError("qv_bias=True needs qkv_bias=True (q_bias / v_bias replace the qkv bias)")
        window = tuple(int(s) for s in self.patch_embed.grid_size) if self.rel_pos_bias else None
        for block in self.blocks:
            old = block.attn
            block.attn = RelPosAttention(
                self.embed_dim,
                old.num_heads,
                qkv_bias=qkv_bias,
                qv_bias=self.qv_bias,
                window=window,
                attn_drop=float(old.attn_drop.p),
                proj_drop=float(old.proj_drop.p),
            )
            for module in (block.attn.qkv, block.attn.proj):  # timm's ViT init: trunc-normal 0.02, zero bias
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """timm's position step; with ``dynamic_img_size`` (``x`` is ``[B, h, w, C]``) it also tells the
        relative-position attention blocks the token grid."""
        if self.rel_pos_bias:
            grid = (int(x.shape[1]), int(x.shape[2])) if x.ndim == 4 else None
            for block in self.blocks:
                block.attn.grid = grid
        return super()._pos_embed(x)

    def adapt_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fit a checkpoint's attention layout to this model (see :func:`adapt_attention_state`)."""
        return adapt_attention_state(state, self)


def adapt_attention_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Map a ViT checkpoint's attention entries onto ``model``'s layout; other entries pass unchanged.

    * ``relative_position_index`` buffers in the file (int64, as MAE-Lite and BEiT save them) are replaced by
      the model's own: they are a function of the window, never trained.
    * ``attn.q_bias`` / ``attn.v_bias`` into a model with a plain ``qkv.bias`` become ``[q_bias, 0, v_bias]``
      (the same forward); ``attn.qkv.bias`` into a ``q_bias`` / ``v_bias`` model gives its q and v thirds (the
      key bias adds a per-query constant to the logits, which the softmax cancels: also the same forward).
    * a ``relative_position_bias_table`` whose window differs from the model's is resized as mmseg does
      (:func:`~vislite_common.backbones.rel_pos.resize_relative_position_table`).
    """
    from vislite_common.backbones.rel_pos import resize_relative_position_table

    target = model.state_dict()
    out = {k: v for k, v in state.items() if not k.endswith("relative_position_index")}
    out.update({k: v for k, v in target.items() if k.endswith("relative_position_index")})
    for key in [k for k in out if k.endswith("attn.q_bias")]:
        prefix = key[: -len("q_bias")]
        if f"{prefix}qkv.bias" in target and f"{prefix}q_bias" not in target and f"{prefix}v_bias" in out:
            q_bias, v_bias = out.pop(f"{prefix}q_bias"), out.pop(f"{prefix}v_bias")
            out[f"{prefix}qkv.bias"] = torch.cat((q_bias, torch.zeros_like(v_bias), v_bias))
    for key in [k for k in out if k.endswith("attn.qkv.bias")]:
        prefix = key[: -len("qkv.bias")]
        if f"{prefix}q_bias" in target and key not in target:
            q_bias, _, v_bias = out.pop(key).chunk(3)
            out[f"{prefix}q_bias"], out[f"{prefix}v_bias"] = q_bias, v_bias
    for key, value in list(out.items()):
        if key.endswith("relative_position_bias_table") and key in target and value.shape != target[key].shape:
            attn = model.get_submodule(key.rsplit(".", 1)[0])
            out[key] = resize_relative_position_table(value, attn.window)
    return out


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

    return adapt_state_dict_to_model(adapt_attention_state(remap_state_dict(state_dict), model), model)


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
