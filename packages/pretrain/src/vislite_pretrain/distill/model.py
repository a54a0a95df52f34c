"""D-MAE and D²-MAE: MAE-lite pre-training with attention distillation from a frozen teacher.

MAE-Lite (``projects/mae_lite/mae_lite_distill_exp.py`` and ``mae_lite_distill_d2_exp.py``)::

    loss = reconstruction + distill_weight * MSE(adapter(student_logits), teacher_logits)

* the teacher encodes the student's visible tokens (the student's ``ids_shuffle``), without gradients;
* the logits are pre-softmax attention scores ``[N, heads, 1+K, 1+K]`` of one block each: the student's last and
  the teacher's last for D-MAE (``distill_attn_idx=(12,)``); for D²-MAE the student's extra block 13 against the
  teacher's block 12, while the decoder reads block 8 (:class:`~vislite_pretrain.distill.decoupled.DecoupledMAE`);
* the adapter is a bias-free 1x1 convolution from the student's heads to the teacher's; the MSE is the mean over
  all elements, weight 1.0.

State-dict keys: ``student.*`` (the student MAE's own keys), ``teacher.encoder.*``, ``adapter.weight``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from vislite_common.backbones.attention import resolve_block_indices
from vislite_pretrain.distill.adapter import HeadAdapter
from vislite_pretrain.distill.teacher import MAETeacher
from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT


class DistillOutput(NamedTuple):
    """One distillation step's results."""

    loss: torch.Tensor
    """``reconstruction + distill_weight * distillation``."""
    reconstruction: torch.Tensor
    """The student's MAE loss (masked-patch MSE)."""
    distillation: torch.Tensor
    """MSE between the adapted student logits and the teacher's."""
    pred: torch.Tensor
    """``[N, L, p*p*C]`` the student's reconstruction."""
    mask: torch.Tensor
    """``[N, L]`` 1 = removed patch, shared by student and teacher."""


class DistilledMAE(nn.Module):
    """A student MAE trained to reconstruct and to match a frozen teacher's attention logits on its visible tokens.

    Args:
        student: the MAE being pre-trained: a :class:`MaskedAutoencoderViT` (D-MAE) or a
            :class:`~vislite_pretrain.distill.decoupled.DecoupledMAE` (D²-MAE).
        teacher: the frozen teacher; its patch grid must equal the student's.
        student_block: the student block whose logits are distilled (``-1`` = last; D²-MAE's probe block).
        teacher_block: the teacher block providing the target (``-1`` = last).
        distill_weight: weight of the distillation term (1.0 in the reference).
        use_adapter: map the student's heads to the teacher's with a 1x1 convolution (the reference's default);
            ``False`` compares the logits directly and needs equal head counts.
    """

    def __init__(
        self,
        *,
        student: MaskedAutoencoderViT,
        teacher: MAETeacher,
        student_block: int = -1,
        teacher_block: int = -1,
        distill_weight: float = 1.0,
        use_adapter: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(student, MaskedAutoencoderViT):
            raise TypeError(f"student must be a MaskedAutoencoderViT, got {type(student).__name__}")
        if teacher.grid_size != student.grid_size or teacher.patch_size != student.patch_size:
            raise ValueError(
                f"teacher and student must cut the image into the same patches: teacher {teacher.grid_size} grid of "
                f"{teacher.patch_size} px patches, student {student.grid_size} grid of {student.patch_size} px"
            )
        if distill_weight < 0:
            raise ValueError(f"distill_weight must be >= 0, got {distill_weight}")
        self.student = student
        self.teacher = teacher
        (self.student_block,) = resolve_block_indices(student_block, len(student.encoder.blocks))
        (self.teacher_block,) = resolve_block_indices(teacher_block, teacher.depth)
        self.distill_weight = distill_weight
        student_heads = int(student.encoder.blocks[self.student_block].attn.num_heads)
        teacher_heads = teacher.num_heads(self.teacher_block)
        if use_adapter:
            self.adapter: nn.Module = HeadAdapter(student_heads, teacher_heads)
        elif student_heads == teacher_heads:
            self.adapter = nn.Identity()
        else:
            raise ValueError(
                f"use_adapter=False needs equal head counts, got student {student_heads} and teacher {teacher_heads}"
            )

    @property
    def mask_ratio(self) -> float:
        """The student's default mask ratio."""
        return self.student.mask_ratio

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """The student's ``[N, C, H, W]`` -> ``[N, L, p*p*C]``."""
        return self.student.patchify(imgs)

    def distillation_loss(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Mean squared error (float32) between ``adapter(student_logits)`` and ``teacher_logits``, both
        ``[N, heads, T, T]`` after the adapter."""
        adapted = self.adapter(student_logits)  # [N, teacher_heads, T, T]
        if adapted.shape != teacher_logits.shape:
            raise ValueError(
                f"adapted student logits {tuple(adapted.shape)} and teacher logits {tuple(teacher_logits.shape)} differ"
            )
        return F.mse_loss(adapted.float(), teacher_logits.float())

    def forward(
        self, imgs: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None
    ) -> DistillOutput:
        """Reconstruction and distillation losses on ``imgs [N, C, H, W]``; ``noise [N, L]`` decides the mask
        (random when ``None``) and ``mask_ratio=None`` uses the student's default (0.75)."""
        student = self.student
        if student.encoder.grad_checkpointing and torch.is_grad_enabled():
            raise NotImplementedError("the student has gradient checkpointing on, which distillation does not support")
        ratio = student.mask_ratio if mask_ratio is None else mask_ratio
        with student.capture_attention(self.student_block) as captured:
            latent, mask, ids_restore, ids_shuffle = student.forward_encoder(imgs, ratio, noise)
        pred = student.forward_decoder(latent, ids_restore)  # [N, L, p*p*C]
        reconstruction = student.forward_loss(imgs, pred, mask)
        target = self.teacher(imgs, ids_shuffle, ratio, block=self.teacher_block)  # [N, Ht, 1+K, 1+K]
        distillation = self.distillation_loss(captured[self.student_block], target)
        loss = reconstruction + self.distill_weight * distillation
        return DistillOutput(loss, reconstruction, distillation, pred, mask)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Not supported: the recomputation in the backward pass would run outside the logits capture."""
        if enable:
            raise NotImplementedError(
                "gradient checkpointing is not supported with attention distillation: the backward pass would "
                "recompute the distilled block without its logits capture"
            )
        self.student.set_grad_checkpointing(False)
