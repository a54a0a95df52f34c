"""The frozen teacher of D-MAE / D²-MAE: a pre-trained ViT encoder run on the student's visible tokens.

MAE-Lite (``projects/mae_lite/mae_lite_distill_exp.py``) loads MAE-Base (1600 epochs), deletes its decoder,
freezes it and keeps it in ``eval()``; each step it encodes the images with the student's ``ids_shuffle``, so it
sees exactly the student's visible patches, and its last block's pre-softmax attention logits are the target.

Teacher checkpoints load from local files only (``weights_only=True``): MAE's and MAE-Lite's releases (full MAE
with decoder, or encoder only, ``{"model": ...}``), vislite MAE-lite / D-MAE Lightning checkpoints, and plain timm
ViT state dicts such as :func:`vislite_pretrain.mae_lite.export_encoder` writes.
"""

from __future__ import annotations

import os
from typing import Any

import timm
import torch
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones in timm)
from vislite_common.backbones.attention import resolve_block_indices
from vislite_common.checkpoint import CheckpointError, extract_state_dict, load_into, resize_pos_embed, safe_load
from vislite_common.lit.frozen import FrozenModule
from vislite_pretrain.distill.keys import drop_probe_block
from vislite_pretrain.mae_lite.loading import to_vislite_keys
from vislite_pretrain.mae_lite.masking import gather_tokens, make_masking
from vislite_pretrain.mae_lite.pos_embed import sincos_pos_embed


class MAETeacher(FrozenModule):
    """A frozen vislite ViT encoder that returns one block's attention logits on a student's visible tokens.

    A :class:`~vislite_common.lit.frozen.FrozenModule`: its parameters never require gradients and it stays in
    eval mode whatever ``train()`` is called with. Its weights stay in the D-MAE's checkpoints
    (``in_checkpoint=True``): the D-MAE state dict is ``student.* / teacher.* / adapter.*``, as the tests check
    and as the encoder loaders (which skip the teacher entries) are tested against.

    Args:
        encoder: a vislite ViT (attention blocks with logits capture) with a class token and an absolute position
            table that includes the class row.
    """

    def __init__(self, *, encoder: nn.Module) -> None:
        super().__init__(in_checkpoint=True)  # keeps the tested student / teacher / adapter checkpoint layout
        problems = []
        if getattr(encoder, "cls_token", None) is None:
            problems.append("no class token")
        if getattr(encoder, "pos_embed", None) is None or getattr(encoder, "no_embed_class", False):
            problems.append("no absolute position table with a class row")
        if getattr(encoder, "num_prefix_tokens", 1) != 1:
            problems.append("register/distillation tokens")
        if not hasattr(encoder, "capture_attention"):
            problems.append("no capture_attention (build it as a vislite ViT)")
        if problems:
            raise ValueError(f"unsupported teacher encoder {type(encoder).__name__}: " + "; ".join(problems))
        self.encoder = encoder  # frozen on assignment

    @property
    def depth(self) -> int:
        """Number of encoder blocks."""
        return len(self.encoder.blocks)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid ``(rows, cols)`` at the encoder's input size."""
        return tuple(self.encoder.patch_embed.grid_size)

    @property
    def patch_size(self) -> int:
        """Patch side in pixels."""
        return int(self.encoder.patch_embed.patch_size[0])

    def num_heads(self, block: int = -1) -> int:
        """Attention heads of ``block`` (default the last)."""
        return int(self.encoder.blocks[block].attn.num_heads)

    @torch.no_grad()
    def forward(
        self, imgs: torch.Tensor, ids_shuffle: torch.Tensor, mask_ratio: float, block: int = -1
    ) -> torch.Tensor:
        """Pre-softmax attention logits of ``block`` (``-1`` = last) on the visible tokens of the student's mask.

        Args:
            imgs: ``[N, C, H, W]``.
            ids_shuffle: ``[N, L]`` the student's permutation (its first ``int(L * (1 - mask_ratio))`` entries are
                the visible patches, in the student's order).
            mask_ratio: the student's ratio.

        Returns:
            ``[N, heads, 1+K, 1+K]``: class token first, then the visible patches in the student's order.
        """
        enc = self.encoder
        (index,) = resolve_block_indices(block, self.depth)
        masking = make_masking(imgs.shape[0], ids_shuffle.shape[1], mask_ratio, ids_shuffle=ids_shuffle)
        tokens = enc.patch_embed(imgs) + enc.pos_embed[:, 1:]  # [N, L, D]
        tokens = gather_tokens(tokens, masking.ids_keep)  # [N, K, D]
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)  # [N, 1, D]
        tokens = torch.cat([cls.to(tokens.dtype), tokens], dim=1)  # [N, 1+K, D]
        with enc.capture_attention(index) as captured:
            enc.blocks[: index + 1](tokens)  # later blocks cannot change the captured logits
        return captured[index]


def _fit_position_table(state: dict[str, torch.Tensor], encoder: nn.Module) -> None:
    """Fit the checkpoint's ``pos_embed`` to the encoder's grid: a MAE sin-cos table is regenerated exactly,
    any other table is resized bicubically."""
    table, target = state.get("pos_embed"), encoder.pos_embed
    if table is None or table.shape == target.shape:
        return
    grid = tuple(encoder.patch_embed.grid_size)
    side = round((table.shape[1] - 1) ** 0.5)
    is_sincos = side * side == table.shape[1] - 1 and torch.allclose(
        table.float(), sincos_pos_embed(table.shape[-1], side), atol=1e-5
    )
    state["pos_embed"] = sincos_pos_embed(table.shape[-1], grid) if is_sincos else resize_pos_embed(table, grid)


def load_teacher(
    path: str | os.PathLike,
    *,
    name: str = "vislite_vit_base",
    img_size: int | tuple[int, int] = 224,
    **encoder_kwargs: Any,
) -> MAETeacher:
    """Build the ViT ``name`` (``num_classes=0``, class-token pooling, final norm) and load a teacher checkpoint.

    The default is MAE-Lite's teacher, MAE-Base/16 (``vislite_vit_base``: 768 wide, 12 blocks, 12 heads). Every
    encoder key must match (a missing final ``norm`` is allowed: the teacher never uses it); decoder entries are
    ignored; a position table of another grid is fitted to ``img_size``.
    """
    encoder = timm.create_model(
        name, num_classes=0, global_pool="token", fc_norm=False, img_size=img_size, **encoder_kwargs
    )
    state = to_vislite_keys(extract_state_dict(safe_load(path)))
    state = {key[len("encoder.") :]: value for key, value in state.items() if key.startswith("encoder.")}
    state = drop_probe_block(state)
    _fit_position_table(state, encoder)
    try:
        load_into(encoder, state, allow_missing=("norm.",))
    except CheckpointError as error:
        raise CheckpointError(f"teacher {path} does not fit {name}: {error}") from None
    return MAETeacher(encoder=encoder)
