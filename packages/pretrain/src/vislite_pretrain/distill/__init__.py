"""Distillation during MAE pre-training: D-MAE and D²-MAE (MAE-Lite's attention distillation).

Usage (the teacher is a local checkpoint; ``out.loss = out.reconstruction + 1.0 * out.distillation``)::

    teacher = load_teacher("mae_pretrain_vit_base.pth", name="vislite_vit_base")
    dmae = DistilledMAE(student=mae_vit_tiny_patch16(), teacher=teacher)
    d2mae = DistilledMAE(student=d2mae_vit_tiny_patch16(), teacher=teacher)
    out = dmae(images)
    export_student_encoder(d2mae, "vit_tiny_d2mae.pth")  # the 12 kept blocks as a timm ViT state dict
"""

from vislite_pretrain.distill.adapter import HeadAdapter
from vislite_pretrain.distill.decoupled import (
    AttentionLogits,
    AttentionProbeBlock,
    DecoupledMAE,
    build_decoupled_mae,
    d2mae_test_vit,
    d2mae_vit_tiny_patch16,
)
from vislite_pretrain.distill.export import export_student_encoder, load_distilled_student
from vislite_pretrain.distill.keys import drop_probe_block, probe_block_index, student_weights
from vislite_pretrain.distill.model import DistilledMAE, DistillOutput
from vislite_pretrain.distill.teacher import MAETeacher, load_teacher

__all__ = [
    "AttentionLogits",
    "AttentionProbeBlock",
    "DecoupledMAE",
    "DistillOutput",
    "DistilledMAE",
    "HeadAdapter",
    "MAETeacher",
    "build_decoupled_mae",
    "d2mae_test_vit",
    "d2mae_vit_tiny_patch16",
    "drop_probe_block",
    "export_student_encoder",
    "load_distilled_student",
    "load_teacher",
    "probe_block_index",
    "student_weights",
]
