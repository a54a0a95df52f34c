"""The attention adapter of D-MAE: a 1x1 convolution over the head axis of attention logits.

MAE-Lite (``projects/mae_lite/mae_lite_distill_exp.py``, ``use_attn_adapter=True``) maps the student's per-head
logits to the teacher's heads with ``Conv2d(student_heads, teacher_heads, 1, bias=False)``: each teacher head is
matched by a learned linear mix of the student's heads, position by position.
"""

from __future__ import annotations

import torch
from torch import nn


class HeadAdapter(nn.Conv2d):
    """``[N, student_heads, T, T]`` -> ``[N, teacher_heads, T, T]``: a bias-free 1x1 convolution over heads.

    The weight ``[teacher_heads, student_heads, 1, 1]`` keeps PyTorch's default ``Conv2d`` initialisation, as in
    the reference.
    """

    def __init__(self, student_heads: int, teacher_heads: int) -> None:
        if student_heads < 1 or teacher_heads < 1:
            raise ValueError(f"head counts must be positive, got student {student_heads}, teacher {teacher_heads}")
        super().__init__(student_heads, teacher_heads, kernel_size=1, bias=False)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 4 or logits.shape[1] != self.in_channels:
            raise ValueError(f"expected attention logits [N, {self.in_channels}, T, T], got {tuple(logits.shape)}")
        return super().forward(logits)  # [N, teacher_heads, T, T]
