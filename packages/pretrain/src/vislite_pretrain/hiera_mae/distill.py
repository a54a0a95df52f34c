"""D-MAE for Hiera: Hiera-MAE pre-training with attention-logit distillation from a frozen MAE-Hiera teacher.

MAE-Lite's ``projects/mae_lite/hiera_mae_distill_exp.py``: the student (``mae_hiera_tiny_224``, mask ratio 0.4)
reconstructs as in plain Hiera-MAE; the teacher (``mae_hiera_base_224``, decoder deleted, frozen, always in eval
mode) encodes **the same visible mask units**; the pre-softmax attention logits of the student's last block
(12 of 12) pass a bias-free 1x1 convolution over heads and are matched to the teacher's last block (24 of 24)
with mean squared error, weight 1.0::

    loss = recon + 1.0 * mse(adapter(student_logits [N, 8, T, T]), teacher_logits [N, 8, T, T])

Both last blocks use global attention over the ``T`` visible tokens of the 1/16 stage (116 at 224 px and
ratio 0.4), so student and teacher must share input size, patch stride, mask units and q-pooling. The module
returns the ViT D-MAE's :class:`~vislite_pretrain.distill.model.DistillOutput`.
"""

from __future__ import annotations

import os
from typing import Any

import timm
import torch
from timm.layers import to_2tuple
from timm.models.hiera import Hiera as TimmHiera
from torch import nn
from torch.nn import functional as F

from vislite_common.backbones.attention import resolve_block_indices
from vislite_common.lit.frozen import FrozenModule
from vislite_pretrain.distill.adapter import HeadAdapter
from vislite_pretrain.distill.model import DistillOutput
from vislite_pretrain.hiera_mae.loading import load_hiera_encoder_weights
from vislite_pretrain.hiera_mae.model import HieraMAE, hiera_base_encoder

SHARED_LAYOUT = ("tokens_spatial_shape", "mask_unit_size", "q_stride", "q_pool", "patch_stride")
"""Encoder attributes student and teacher must share for their attention maps to cover the same tokens."""


class HieraTeacher(FrozenModule):
    """A frozen Hiera encoder returning one block's attention logits on a student's visible mask units.

    A :class:`~vislite_common.lit.frozen.FrozenModule`: its parameters never require gradients, it stays in eval
    mode whatever ``train()`` is called with, and its weights are left out of the checkpoints of the module that
    holds it (it is rebuilt from ``teacher.path`` on every run and resume; no test or loader reads them there).

    Args:
        encoder: a vislite ``Hiera`` (attention blocks that can expose their logits).
    """

    def __init__(self, *, encoder: TimmHiera) -> None:
        super().__init__()
        if not isinstance(encoder, TimmHiera) or not hasattr(encoder, "capture_attention"):
            raise TypeError(f"the teacher must be a vislite Hiera (logits capture), got {type(encoder).__name__}")
        self.encoder = encoder  # frozen on assignment

    @property
    def depth(self) -> int:
        """Number of encoder blocks."""
        return len(self.encoder.blocks)

    def num_heads(self, block: int = -1) -> int:
        """Attention heads of ``block`` (default the last)."""
        return int(self.encoder.blocks[block].attn.heads)

    @torch.no_grad()
    def forward(self, imgs: torch.Tensor, mask: torch.Tensor, block: int = -1) -> torch.Tensor:
        """Pre-softmax logits ``[N, heads, T, T]`` of ``block`` (``-1`` = last) on the mask units the student
        keeps (``mask [N, U]``, 1 = removed)."""
        (index,) = resolve_block_indices(block, self.depth)
        with self.encoder.capture_attention(index) as captured:
            self.encoder.forward_features(imgs, mask=mask == 0)
        return captured[index]


class HieraMAEDistill(nn.Module):
    """A Hiera-MAE student trained to reconstruct and to match a frozen Hiera teacher's attention logits.

    Args:
        student: the Hiera MAE being pre-trained.
        teacher: the frozen teacher; its token layout (input size, strides, mask units, q-pooling) must equal
            the student encoder's.
        student_block, teacher_block: distilled blocks (0-based; -1 = last, the reference's 12 and 24); both must
            use global attention.
        distill_weight: weight of the attention MSE in the loss (1.0 in the reference).

    State-dict keys: ``student.*`` (:class:`HieraMAE`'s), ``adapter.weight``; the frozen teacher's entries are left
    out (checkpoints that hold ``teacher.encoder.*`` still load them).
    """

    def __init__(
        self,
        *,
        student: HieraMAE,
        teacher: HieraTeacher,
        student_block: int = -1,
        teacher_block: int = -1,
        distill_weight: float = 1.0,
    ) -> None:
        super().__init__()
        layouts = [(name, getattr(student.encoder, name), getattr(teacher.encoder, name)) for name in SHARED_LAYOUT]
        mismatched = [f"{name} {mine} vs {theirs}" for name, mine, theirs in layouts if _seq(mine) != _seq(theirs)]
        if mismatched:
            raise ValueError("student and teacher encoders must share their token layout: " + "; ".join(mismatched))
        if distill_weight < 0:
            raise ValueError(f"distill_weight must be >= 0, got {distill_weight}")
        self.student = student
        self.teacher = teacher
        (self.student_block,) = resolve_block_indices(student_block, len(student.encoder.blocks))
        (self.teacher_block,) = resolve_block_indices(teacher_block, teacher.depth)
        blocks = {
            "student": student.encoder.blocks[self.student_block],
            "teacher": teacher.encoder.blocks[self.teacher_block],
        }
        for name, block in blocks.items():
            if block.attn.use_mask_unit_attn:
                raise ValueError(
                    f"the {name}'s distilled block uses mask-unit attention; pick a global-attention block"
                )
        self.adapter = HeadAdapter(int(blocks["student"].attn.heads), teacher.num_heads(self.teacher_block))
        self.distill_weight = distill_weight

    @property
    def mask_ratio(self) -> float:
        """The student's default mask ratio."""
        return self.student.mask_ratio

    @property
    def num_mask_units(self) -> int:
        """Mask units per image (the student's), the length of the masking noise."""
        return self.student.num_mask_units

    def forward(
        self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None
    ) -> DistillOutput:
        """Reconstruction and distillation losses on ``imgs [N, C, H, W]``; ``noise [N, U]`` over mask units
        decides the mask (random when ``None``) and ``mask_ratio=None`` uses the student's default (0.4)."""
        student = self.student
        ratio = student.mask_ratio if mask_ratio is None else mask_ratio
        with student.capture_attention(self.student_block) as captured:
            latent, mask = student.forward_encoder(imgs, ratio, noise)
        pred = student.forward_decoder(latent, mask)  # [N, L, C*s*s]
        patch_mask = student.patch_mask(mask)  # [N, L]
        reconstruction = student.forward_loss(imgs, pred, patch_mask)
        target = self.teacher(imgs, mask, block=self.teacher_block)  # [N, Ht, T, T]
        adapted = self.adapter(captured[self.student_block])  # [N, Ht, T, T]
        distillation = F.mse_loss(adapted.float(), target.float())
        loss = reconstruction + self.distill_weight * distillation
        return DistillOutput(loss, reconstruction, distillation, pred, patch_mask)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the student's encoder blocks in the backward pass."""
        self.student.set_grad_checkpointing(enable)


def _seq(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_hiera_teacher(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    img_size: int | tuple[int, int] = 224,
    q_pool: int = 2,
    **encoder_kwargs: Any,
) -> HieraTeacher:
    """The frozen teacher, its encoder loaded strictly from a local checkpoint.

    ``name=None`` builds MAE-Hiera-Base's encoder (``mae_hiera_base_224``: Hiera's released
    ``mae_hiera_base_224.pth`` loads directly); otherwise ``timm.create_model(name, num_classes=0, ...)`` (a small
    teacher in tests and demos). Fusion heads, decoder and mask token in the file are ignored; every encoder key
    must be there.
    """
    if name is None:
        encoder = hiera_base_encoder(img_size=img_size, q_pool=q_pool, **encoder_kwargs)
    else:
        encoder = timm.create_model(name, num_classes=0, img_size=to_2tuple(img_size), q_pool=q_pool, **encoder_kwargs)
    load_hiera_encoder_weights(encoder, path, allow_missing=())
    return HieraTeacher(encoder=encoder)
