"""Hiera-Tiny(46): MAE-Lite's hierarchical 6.7M model (timm's Hiera at embed 46, 1 head, stages (1, 2, 7, 2)).

Everything else is timm's default: 7x7 stride-4 patch embedding, 3 q-pooling stages with a 2x2 q-stride, 8x8
mask units, mask-unit attention in stages 1-2 and global attention in stages 3-4. Widths 46-92-184-368 at
strides 4-8-16-32, heads 1-2-4-8. 6,694,966 parameters with a 1000-class head, 6,325,966 without
(``num_classes=0``), of which 144,256 are the absolute position table at 224 px. Not the official Hiera-T
(embed 96, 27.9M).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from timm.layers import resample_abs_pos_embed
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from timm.models.hiera import Hiera as TimmHiera
from timm.models.hiera import MaskUnitAttention
from timm.models.hiera import checkpoint_filter_fn as timm_hiera_filter

from vislite_common.backbones.attention import LogitsHook
from vislite_common.backbones.interface import TransformerBackboneMixin, pretrained_cfg


class CapturableMaskUnitAttention(MaskUnitAttention, LogitsHook):
    """Hiera's mask-unit / global attention with a hook point (``self.logits``) on its pre-softmax logits.

    Logits are ``[B, heads, windows, Nq, Nk]`` in mask-unit attention (``Nq = Nk / q_stride`` when q is
    pooled) and ``[B, heads, Nq, Nk]`` in global attention. The fused kernel runs unless a capture is active.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_logits_hook()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.capture_logits:
            return super().forward(x)
        batch, tokens, _ = x.shape
        if self.use_mask_unit_attn:
            # tokens are unrolled so that token n belongs to mask unit (window) n % windows
            windows = tokens // (self.q_stride * self.window_size)
            qkv = self.qkv(x).reshape(batch, -1, windows, 3, self.heads, self.head_dim)  # [B, T, W, 3, H, d]
            q, k, v = qkv.permute(3, 0, 4, 2, 1, 5).unbind(0)  # 3 x [B, H, W, T, d]
            if self.q_stride > 1:  # max-pool q over the q_stride leading chunks of each window
                q = q.view(batch, self.heads, windows, self.q_stride, -1, self.head_dim).amax(dim=3)  # [B,H,W,T/s,d]
        else:
            qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim)  # [B, N, 3, H, d]
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d]
            if self.q_stride > 1:
                q = q.view(batch, self.heads, self.q_stride, -1, self.head_dim).amax(dim=2)  # [B, H, N/s, d]
        logits = self.logits((q * self.scale) @ k.transpose(-1, -2))  # [B, H, (W,) Nq, Nk]
        out = logits.softmax(dim=-1) @ v  # [B, H, (W,) Nq, d]
        if self.use_mask_unit_attn:
            out = out.transpose(1, 3).reshape(batch, -1, self.dim_out)  # [B, Nq*W, H*d]
        else:
            out = out.transpose(1, 2).reshape(batch, -1, self.dim_out)  # [B, Nq, H*d]
        return self.proj(out)

    @classmethod
    def from_timm(cls, attn: MaskUnitAttention) -> CapturableMaskUnitAttention:
        """Wrap an existing timm ``MaskUnitAttention``, sharing its ``qkv`` and ``proj`` layers (no copy)."""
        with torch.device("meta"):  # the placeholder qkv / proj are replaced right away
            new = cls(attn.dim, attn.dim_out, attn.heads, attn.q_stride, attn.window_size, attn.use_mask_unit_attn)
        new.qkv, new.proj = attn.qkv, attn.proj
        new.fused_attn = attn.fused_attn
        return new


class Hiera(TransformerBackboneMixin, TimmHiera):
    """timm's Hiera whose attention blocks can expose their pre-softmax logits.

    Adds to timm's interface (``forward_features``, ``forward_intermediates`` — one ``NCHW`` map per stage —,
    ``no_weight_decay``, ``group_matcher``):

    * :meth:`capture_attention` — a context manager yielding ``{block: logits}``;
    * :meth:`layer_ids` — the layer id of every parameter for layer-wise lr decay;
    * :meth:`adapt_state_dict` — fit a checkpoint to this model (official key names, position-table size).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for block in self.blocks:
            block.attn = CapturableMaskUnitAttention.from_timm(block.attn)

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename official Hiera keys to timm's and resize a flat position table to this model's token grid."""
        return _filter_pretrained(state_dict, self)


def _filter_pretrained(state_dict: dict[str, torch.Tensor], model: TimmHiera) -> dict[str, torch.Tensor]:
    """timm's Hiera key mapping, plus a bicubic resize of ``pos_embed [1, H*W, C]`` to the model's grid."""
    from vislite_common.checkpoint import remap_state_dict

    state_dict = timm_hiera_filter(remap_state_dict(state_dict), model)
    pos = state_dict.get("pos_embed")
    target = getattr(model, "pos_embed", None)
    if pos is not None and target is not None and pos.ndim == 3 and pos.shape != target.shape:
        side = math.isqrt(pos.shape[1])
        if side * side != pos.shape[1]:
            raise ValueError(f"cannot resize a non-square Hiera position table of {pos.shape[1]} tokens")
        state_dict["pos_embed"] = resample_abs_pos_embed(
            pos, new_size=list(model.tokens_spatial_shape), old_size=[side, side], num_prefix_tokens=0
        )  # [1, h*w, C] -> [1, H*W, C]
    return state_dict


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return pretrained_cfg(**{"crop_pct": 0.9, "classifier": "head.fc", **kwargs})


default_cfgs = generate_default_cfgs(
    {
        "vislite_hiera_tiny46.untrained": _cfg(),
        "test_vislite_hiera.untrained": _cfg(input_size=(3, 64, 64), crop_pct=1.0),
    }
)


def _create_hiera(variant: str, pretrained: bool = False, **kwargs: Any) -> Hiera:
    """Build a registered variant; ``pretrained=True`` loads only from a local ``pretrained_cfg_overlay`` file."""
    out_indices = kwargs.pop("out_indices", 4)
    return build_model_with_cfg(
        Hiera,
        variant,
        pretrained,
        pretrained_filter_fn=_filter_pretrained,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"),
        **kwargs,
    )


@register_model
def vislite_hiera_tiny46(pretrained: bool = False, **kwargs: Any) -> Hiera:
    """Hiera-Tiny(46): embed 46, 1 head, stages (1, 2, 7, 2), widths 46-92-184-368, heads 1-2-4-8."""
    args = dict(embed_dim=46, num_heads=1, stages=(1, 2, 7, 2))
    return _create_hiera("vislite_hiera_tiny46", pretrained, **dict(args, **kwargs))


@register_model
def test_vislite_hiera(pretrained: bool = False, **kwargs: Any) -> Hiera:
    """Tiny Hiera for tests: 64 px input (2x2 mask units), embed 8, stages (1, 1, 1, 1), widths 8-16-32-64."""
    args = dict(img_size=(64, 64), embed_dim=8, num_heads=1, stages=(1, 1, 1, 1))
    return _create_hiera("test_vislite_hiera", pretrained, **dict(args, **kwargs))
