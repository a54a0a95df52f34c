"""D²-MAE's student: a MAE whose decoder reads an earlier block, with one extra block kept only for its logits.

MAE-Lite (``projects/mae_lite/mae_lite_distill_d2_exp.py``, ``models_mae.py: mae_vit_tiny_d13_patch16``): the
ViT-Tiny student has **13** blocks in pre-training. The decoder reconstructs from ``norm(x)`` taken **after 8
blocks** (``decode_idx=8``), so blocks 9-13 learn from distillation alone. Block 13 keeps only ``norm1`` and
``attn.qkv`` (``attn.proj``, ``norm2`` and ``mlp`` are deleted): it exists to produce attention logits that are
distilled against the teacher's last block. Downstream only the first 12 blocks are kept
(:func:`vislite_pretrain.distill.export.export_student_encoder`).
"""

from __future__ import annotations

from typing import Any

import torch
from timm.models import checkpoint_seq
from torch import nn
from torch.nn import functional as F

import vislite_common  # noqa: F401  (registers the vislite backbones in timm)
from vislite_common.backbones.attention import LogitsHook
from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT, mae_encoder


class AttentionLogits(LogitsHook):
    """The query-key half of a timm ``Attention``: ``x [B, N, D]`` -> pre-softmax logits ``[B, heads, N, N]``.

    Keeps the attention's ``qkv`` Linear (same parameter names, ``qkv.weight`` / ``qkv.bias``) but computes only
    its query and key rows; the logits pass through the hook point ``self.logits``.
    """

    def __init__(self, attn: nn.Module) -> None:
        super().__init__()
        self.num_heads: int = attn.num_heads
        self.head_dim: int = attn.head_dim
        self.scale: float = attn.scale
        self.qkv: nn.Linear = attn.qkv
        self.q_norm: nn.Module = getattr(attn, "q_norm", nn.Identity())
        self.k_norm: nn.Module = getattr(attn, "k_norm", nn.Identity())
        self._init_logits_hook()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        rows = 2 * self.num_heads * self.head_dim  # query and key rows of the qkv weight
        bias = None if self.qkv.bias is None else self.qkv.bias[:rows]
        qk = F.linear(x, self.qkv.weight[:rows], bias)  # [B, N, 2*H*d]
        q, k = qk.reshape(batch, tokens, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)  # 2 x [B, H, N, d]
        return self.logits((q * self.scale) @ k.transpose(-2, -1))  # [B, H, N, N]


class AttentionProbeBlock(nn.Module):
    """A transformer block cut down to ``norm1`` and the query-key part of ``attn`` (D²-MAE's last block).

    ``forward`` passes the tokens through unchanged; while its logits are being captured
    (:func:`vislite_common.backbones.capture_attention_logits`) it also computes them from ``norm1(x)``. So a
    ViT ending in this block computes the same features as without it.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.norm1: nn.Module = block.norm1
        self.attn = AttentionLogits(block.attn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.attn.capture_logits:
            self.attn(self.norm1(x))  # [B, H, N, N], delivered to the capture hook
        return x


class DecoupledMAE(MaskedAutoencoderViT):
    """A :class:`MaskedAutoencoderViT` whose decoder reads ``encoder.norm`` of the tokens after ``decode_depth``
    blocks, and whose last encoder block is replaced by an :class:`AttentionProbeBlock`.

    The blocks after the tap do not change the reconstruction; they run only while one of them has its attention
    logits captured (as D²-MAE's distillation does), and then receive gradients from the distillation alone.

    Args:
        encoder: as for :class:`MaskedAutoencoderViT`, with one block more than is kept downstream (13 for the
            reference's ViT-Tiny); its last block is replaced in place.
        decode_depth: number of blocks before the decoder's input (8 in the reference), ``1 .. depth - 1``.
        kwargs: the other :class:`MaskedAutoencoderViT` arguments (decoder size, mask ratio, ``norm_pix_loss``).
    """

    def __init__(self, *, encoder: nn.Module, decode_depth: int = 8, **kwargs: Any) -> None:
        depth = len(encoder.blocks)
        if depth < 2 or not 1 <= decode_depth <= depth - 1:
            raise ValueError(
                f"decode_depth must be in 1..{depth - 1} for an encoder of {depth} blocks, got {decode_depth}"
            )
        encoder.blocks[depth - 1] = AttentionProbeBlock(encoder.blocks[depth - 1])
        super().__init__(encoder=encoder, **kwargs)
        self.decode_depth = decode_depth

    @property
    def kept_depth(self) -> int:
        """Blocks kept downstream: all but the probe block (12 for the reference's 13-block student)."""
        return len(self.encoder.blocks) - 1

    def forward_blocks(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[N, 1+K, D]`` -> ``norm`` of the tokens after ``decode_depth`` blocks; later blocks run only while
        their logits are being captured."""
        enc = self.encoder
        head, tail = enc.blocks[: self.decode_depth], enc.blocks[self.decode_depth :]
        tokens = self._run(head, tokens)
        latent = enc.norm(tokens)
        if any(getattr(block.attn, "capture_logits", False) for block in tail):
            self._run(tail, tokens)  # its value is unused: the logits reach the capture hooks
        return latent

    def _run(self, blocks: nn.Sequential, tokens: torch.Tensor) -> torch.Tensor:
        if self.encoder.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint_seq(blocks, tokens)
        return blocks(tokens)


def build_decoupled_mae(
    encoder_name: str = "vislite_vit_tiny",
    *,
    depth: int = 13,
    decode_depth: int = 8,
    img_size: int | tuple[int, int] = 224,
    decoder_embed_dim: int = 96,
    decoder_depth: int = 1,
    decoder_num_heads: int = 3,
    mlp_ratio: float = 4.0,
    mask_ratio: float = 0.75,
    norm_pix_loss: bool = True,
    **encoder_kwargs: Any,
) -> DecoupledMAE:
    """D²-MAE student over a registered vislite ViT built with ``depth`` blocks (``timm.create_model(encoder_name,
    depth=depth, num_classes=0, global_pool="token", fc_norm=False, img_size=img_size, ...)``)."""
    return DecoupledMAE(
        encoder=mae_encoder(encoder_name, img_size=img_size, depth=depth, **encoder_kwargs),
        decode_depth=decode_depth,
        decoder_embed_dim=decoder_embed_dim,
        decoder_depth=decoder_depth,
        decoder_num_heads=decoder_num_heads,
        mlp_ratio=mlp_ratio,
        mask_ratio=mask_ratio,
        norm_pix_loss=norm_pix_loss,
    )


def d2mae_vit_tiny_patch16(**kwargs: Any) -> DecoupledMAE:
    """MAE-Lite's ``mae_vit_tiny_d13_patch16`` as D²-MAE trains it: 13 blocks (the last a probe), decoder on
    block 8 (5,803,296 trainable parameters at 224 px)."""
    return build_decoupled_mae("vislite_vit_tiny", **{"depth": 13, "decode_depth": 8, **kwargs})


def d2mae_test_vit(**kwargs: Any) -> DecoupledMAE:
    """A tiny D² student for tests: ``test_vislite_vit`` with 5 blocks (4 kept), decoder on block 3, 32 px."""
    args = {"depth": 5, "decode_depth": 3, "img_size": 32, "decoder_embed_dim": 32, "decoder_num_heads": 2}
    return build_decoupled_mae("test_vislite_vit", **{**args, **kwargs})
