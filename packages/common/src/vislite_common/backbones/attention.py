"""Attention whose pre-softmax logits can be captured, and a context manager that captures them.

timm's fused attention (``scaled_dot_product_attention``) never materialises the logits. Distillation
(D-MAE) and analysis (attention distance / entropy) need them, so :class:`CapturableAttention` switches to
an explicit ``q @ k^T`` path only while a capture is active; the fused kernel stays on otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn.functional as F
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


class RelPosAttention(Attention, LogitsHook):
    """BEiT / MAE-Lite ``models_vit_rpe`` attention: optional per-layer relative position bias and q/v biases.

    * ``window`` set: a trainable ``relative_position_bias_table [(2Wh-1)(2Ww-1)+3, heads]`` (zero-initialised)
      and its int64 ``relative_position_index [1+Wh*Ww, 1+Wh*Ww]`` buffer; the bias is added to the logits.
    * ``qv_bias``: ``qkv`` has no bias; ``q_bias`` and ``v_bias`` (zeros) are concatenated around a zero key bias.
      With ``qkv_bias`` and not ``qv_bias``: a plain ``qkv.bias``.

    ``grid`` (set by the owning ViT for dynamic input sizes) is the token grid of the next forward; a grid smaller
    than the window reads its own offsets from the table. The explicit path computes the logits in the reference's
    order (``(q * scale) @ k^T + bias``); set ``fused_attn = True`` to use ``scaled_dot_product_attention``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        *,
        qkv_bias: bool = True,
        qv_bias: bool = False,
        window: tuple[int, int] | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__(
            dim, num_heads=num_heads, qkv_bias=qkv_bias and not qv_bias, attn_drop=attn_drop, proj_drop=proj_drop
        )
        self._init_logits_hook()
        self.fused_attn = False
        self.q_bias = nn.Parameter(torch.zeros(self.attn_dim)) if qkv_bias and qv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(self.attn_dim)) if qkv_bias and qv_bias else None
        self.window = None if window is None else (int(window[0]), int(window[1]))
        self.grid: tuple[int, int] | None = None
        if self.window is not None:
            from vislite_common.backbones.rel_pos import num_relative_distances, relative_position_index

            rows = num_relative_distances(self.window)
            self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, num_heads))
            self.register_buffer("relative_position_index", relative_position_index(self.window))
        else:
            self.relative_position_bias_table = None
            self.relative_position_index = None

    def position_bias(self, tokens: int) -> torch.Tensor | None:
        """The relative position bias ``[heads, tokens, tokens]`` for the current grid, or ``None``."""
        if self.relative_position_bias_table is None:
            return None
        grid = self.grid or self.window
        if 1 + grid[0] * grid[1] != tokens:
            raise ValueError(
                f"relative position bias for a {grid[0]}x{grid[1]} grid (+1 class token) cannot serve {tokens} tokens"
            )
        if grid == self.window:
            index = self.relative_position_index
        else:
            from vislite_common.backbones.rel_pos import relative_position_index

            index = relative_position_index(grid, self.window).to(self.relative_position_bias_table.device)
        bias = self.relative_position_bias_table[index.view(-1)].view(tokens, tokens, -1)  # [N, N, heads]
        return bias.permute(2, 0, 1).contiguous()  # [heads, N, N]

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if is_causal:
            raise NotImplementedError("relative-position attention is never causal")
        batch, tokens, _ = x.shape
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))  # zero key bias
            qkv = F.linear(x, self.qkv.weight, bias)
        else:
            qkv = self.qkv(x)
        qkv = qkv.reshape(batch, tokens, 3, self.num_heads, self.head_dim)  # [B, N, 3, H, d]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d]
        q, k = self.q_norm(q), self.k_norm(k)
        position = self.position_bias(tokens)  # [H, N, N] or None
        if attn_mask is not None:
            mask = attn_mask
            if mask.dtype == torch.bool:
                mask = torch.zeros_like(mask, dtype=q.dtype).masked_fill(~mask, -torch.inf)
            position = mask if position is None else position.unsqueeze(0) + mask
        if self.fused_attn and not self.capture_logits:
            out = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=None if position is None else position.to(q.dtype),
                dropout_p=self.attn_drop.p if self.training else 0.0,
            )
        else:
            logits = (q * self.scale) @ k.transpose(-2, -1)  # [B, H, N, N]
            if position is not None:
                logits = logits + (position.unsqueeze(0) if position.ndim == 3 else position)
            logits = self.logits(logits)
            out = self.attn_drop(logits.softmax(dim=-1)) @ v
        out = out.transpose(1, 2).reshape(batch, tokens, -1)  # [B, N, H*d]
        return self.proj_drop(self.proj(self.norm(out)))
