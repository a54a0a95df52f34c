"""Hiera-Tiny(46): MAE-Lite's hierarchical 6.5M model (timm's Hiera at embed 46, 1 head, stages (1, 2, 7, 2)).

6,694,966 parameters with a 1000-class head (6,550,710 without the 144,256-parameter absolute position table).
Not the official Hiera-T (embed 96, 27.9M).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from timm.models.hiera import Hiera as TimmHiera
from timm.models.hiera import MaskUnitAttention

from vislite_common.backbones.attention import LogitsHook, capture_attention_logits, resolve_block_indices
from vislite_common.backbones.interface import parameter_layer_ids


class CapturableMaskUnitAttention(MaskUnitAttention, LogitsHook):
    """Hiera's mask-unit attention whose pre-softmax logits can be captured (``[B, heads, (windows,) Nq, Nk]``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_logits_hook()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.capture_logits:
            return super().forward(x)
        batch, tokens, _ = x.shape
        if self.use_mask_unit_attn:
            windows = tokens // (self.q_stride * self.window_size)
            qkv = self.qkv(x).reshape(batch, -1, windows, 3, self.heads, self.head_dim)  # [B, T, W, 3, H, d]
            q, k, v = qkv.permute(3, 0, 4, 2, 1, 5).unbind(0)  # 3 x [B, H, W, T, d]
            if self.q_stride > 1:
                q = q.view(batch, self.heads, windows, self.q_stride, -1, self.head_dim).amax(dim=3)
        else:
            qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim)  # [B, N, 3, H, d]
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d]
            if self.q_stride > 1:
                q = q.view(batch, self.heads, self.q_stride, -1, self.head_dim).amax(dim=2)
        logits = self.logits((q * self.scale) @ k.transpose(-1, -2))  # [B, H, (W,) Nq, Nk]
        out = logits.softmax(dim=-1) @ v
        if self.use_mask_unit_attn:
            out = out.transpose(1, 3).reshape(batch, -1, self.dim_out)  # [B, Nq, dim_out]
        else:
            out = out.transpose(1, 2).reshape(batch, -1, self.dim_out)
        return self.proj(out)


class Hiera(TimmHiera):
    """timm's Hiera whose attention can expose its logits (``capture_attention``) and with ``layer_ids``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for block in self.blocks:
            old = block.attn
            new = CapturableMaskUnitAttention(
                old.dim, old.dim_out, old.heads, old.q_stride, old.window_size, old.use_mask_unit_attn
            )
            new.load_state_dict(old.state_dict())
            block.attn = new

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @contextmanager
    def capture_attention(self, indices: int | list[int] | tuple[int, ...]) -> Iterator[dict[int, torch.Tensor]]:
        """Capture the pre-softmax attention logits of blocks ``indices`` (0-based; -1 is the last block)."""
        blocks = resolve_block_indices(indices, self.depth)
        with capture_attention_logits({i: self.blocks[i].attn for i in blocks}) as captured:
            yield captured

    def layer_ids(self) -> dict[str, int]:
        """Layer id per parameter: embeddings 0, block ``k`` -> ``k + 1``, the rest last."""
        return parameter_layer_ids(self)


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": None,
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.proj",
        "classifier": "head.fc",
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {"vislite_hiera_tiny46.untrained": _cfg(), "test_vislite_hiera.untrained": _cfg(input_size=(3, 64, 64))}
)


def _create_hiera(variant: str, pretrained: bool = False, **kwargs: Any) -> Hiera:
    return build_model_with_cfg(Hiera, variant, pretrained, feature_cfg=dict(flatten_sequential=True), **kwargs)


@register_model
def vislite_hiera_tiny46(pretrained: bool = False, **kwargs: Any) -> Hiera:
    """Hiera-Tiny(46): embed 46, 1 head, stages (1, 2, 7, 2), widths 46-92-184-368."""
    return _create_hiera(
        "vislite_hiera_tiny46", pretrained, **dict(dict(embed_dim=46, num_heads=1, stages=(1, 2, 7, 2)), **kwargs)
    )


@register_model
def test_vislite_hiera(pretrained: bool = False, **kwargs: Any) -> Hiera:
    """Tiny Hiera for tests: 64 px input, embed 8, stages (1, 1, 1, 1)."""
    args = dict(img_size=(64, 64), embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), q_pool=2)
    return _create_hiera("test_vislite_hiera", pretrained, **dict(args, **kwargs))
