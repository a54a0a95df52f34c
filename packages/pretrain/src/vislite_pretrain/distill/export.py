"""Exporting the distilled student as a plain timm ViT, and loading students from distillation checkpoints.

D-MAE's student exports like any MAE-lite encoder. D²-MAE's 13-block student exports its first 12 blocks: the
probe block is dropped and its ``norm1`` (the LayerNorm trained on block 12's output) becomes the final
``norm``; the student's own ``norm`` normalised block 8's output for the decoder and is not exported. The file
loads strictly into ``timm.create_model("vislite_vit_tiny", num_classes=0, global_pool="token", fc_norm=False)``
(and, as MAE fine-tuning does, into the default global-pooling ViT with a fresh ``fc_norm``).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from vislite_common.checkpoint import CheckpointError, atomic_save, extract_state_dict, safe_load
from vislite_pretrain.distill.decoupled import DecoupledMAE, build_decoupled_mae
from vislite_pretrain.distill.keys import drop_probe_block, probe_block_index
from vislite_pretrain.distill.model import DistilledMAE
from vislite_pretrain.mae_lite.loading import export_encoder, load_mae_lite, to_vislite_keys
from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT


def _student(model: nn.Module) -> MaskedAutoencoderViT:
    """The student MAE of a (possibly compiled) :class:`DistilledMAE`, or ``model`` itself if it is an MAE."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, DistilledMAE):
        model = model.student
    if not isinstance(model, MaskedAutoencoderViT):
        raise TypeError(f"expected a DistilledMAE or a MaskedAutoencoderViT, got {type(model).__name__}")
    return model


def export_student_encoder(model: nn.Module, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Write the student's downstream encoder (a :class:`DistilledMAE` or its student) as a plain timm state dict.

    Returns the written state dict. A D²-MAE student loses its probe block (12 of 13 blocks are kept, final norm
    from the probe's ``norm1``); any other MAE exports as :func:`vislite_pretrain.mae_lite.export_encoder` does.
    """
    student = _student(model)
    if not isinstance(student, DecoupledMAE):
        export_encoder(student, path)
        return safe_load(path)
    state = {k: v.detach().to("cpu").clone() for k, v in student.encoder.state_dict().items()}
    state = drop_probe_block(state)
    atomic_save(state, path)
    return state


def load_distilled_student(
    path: str | os.PathLike, *, model: MaskedAutoencoderViT | None = None, decode_depth: int = 8
) -> MaskedAutoencoderViT:
    """Load the student MAE of a D-MAE / D²-MAE checkpoint (MAE-Lite release or vislite Lightning checkpoint).

    Without ``model`` the architecture is inferred: a checkpoint whose last encoder block is a D²-MAE probe block
    gives a :class:`DecoupledMAE` over ``vislite_vit_tiny`` with that many blocks and ``decode_depth`` (the
    reference's 8; the checkpoint does not record it), any other the MAE-lite model :func:`load_mae_lite` infers.
    """
    if model is None:
        state = to_vislite_keys(extract_state_dict(safe_load(path)))
        depth = probe_block_index(state, prefix="encoder.")
        if depth is not None:
            width = state["encoder.pos_embed"].shape[-1]
            if width != 192:
                raise CheckpointError(f"{path}: a D²-MAE student {width} wide is not ViT-Tiny; pass model=...")
            grid = round((state["encoder.pos_embed"].shape[1] - 1) ** 0.5)
            model = build_decoupled_mae(depth=depth + 1, decode_depth=decode_depth, img_size=grid * 16)
    return load_mae_lite(path, model=model)
