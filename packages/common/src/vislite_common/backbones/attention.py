"""Attention whose pre-softmax logits can be captured, and a context manager that captures them.

timm's fused attention (``scaled_dot_product_attention``) never materialises the logits. Distillation
(D-MAE) and analysis (attention distance / entropy) need them, so :class:`CapturableAttention` switches to
an explicit ``q @ k^T`` path only while a capture is active; the fused kernel stays on otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from timm.layers import Attention
from torch import nn


class LogitsHook(nn.Module):
    """Mixin for attention modules: ``self.logits`` is an identity the pre-softmax logits pass through while
    ``self.capture_logits`` is on (forward hooks on it see them); otherwise the fused kernel runs."""

    def _init_logits_hook(self) -> None:
        self.logits = nn.Identity()
        self.capture_logits = False


class CapturableAttention(Attention, LogitsHook):
    """timm ``Attention`` with a hook point (``self.logits``) on the pre-softmax attention logits."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_logits_hook()  # hooks on self.logits see logits [B, heads, N, N]

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if not self.capture_logits:
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        if is_causal or getattr(self, "gate", None) is not None:
            raise NotImplementedError("logit capture supports plain (non-causal, ungated) attention only")
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)  # [B, N, 3, H, d]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d]
        q, k = self.q_norm(q), self.k_norm(k)
        logits = self.logits((q * self.scale) @ k.transpose(-2, -1))  # [B, H, N, N]
        if attn_mask is not None:
            logits = logits + attn_mask if attn_mask.dtype != torch.bool else logits.masked_fill(~attn_mask, -torch.inf)
        attn = self.attn_drop(logits.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(batch, tokens, -1)  # [B, N, H*d]
        return self.proj_drop(self.proj(self.norm(out)))


@contextmanager
def capture_attention_logits(modules: Mapping[int, LogitsHook]) -> Iterator[dict[int, torch.Tensor]]:
    """Capture the pre-softmax logits of ``modules`` (keyed by block index) during the ``with`` body.

    Yields a dict that fills as the model runs: ``{block_index: logits [B, heads, N, N]}``. The logits keep
    their autograd graph, so they can be distillation targets or be distilled into.
    """
    captured: dict[int, torch.Tensor] = {}
    handles = []
    for index, module in modules.items():
        if not isinstance(module, LogitsHook):
            raise TypeError(f"block {index} has {type(module).__name__}, which cannot expose attention logits")
        module.capture_logits = True

        def _store(_mod: nn.Module, _inp: tuple, out: torch.Tensor, index: int = index) -> None:
            captured[index] = out

        handles.append(module.logits.register_forward_hook(_store))
    try:
        yield captured
    finally:
        for module in modules.values():
            module.capture_logits = False
        for handle in handles:
            handle.remove()


def resolve_block_indices(indices: int | list[int] | tuple[int, ...], depth: int) -> list[int]:
    """Turn block indices (0-based, negatives count from the end) into checked, non-negative indices."""
    if isinstance(indices, int):
        indices = [indices]
    resolved = []
    for index in indices:
        real = index + depth if index < 0 else index
        if not 0 <= real < depth:
            raise IndexError(f"block index {index} is out of range for a model with {depth} blocks")
        resolved.append(real)
    return resolved
