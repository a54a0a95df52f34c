"""A timm ViT as a dense-prediction backbone: the token maps of four blocks as ``[B, C, H/p, W/p]`` tensors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import timm
import torch
from torch import nn

from vislite_common.backbones import list_backbones  # importing it registers the vislite backbones in timm
from vislite_segmentation.models.weights import load_backbone_weights

DEFAULT_INDICES = (3, 5, 7, 11)
"""0-based indices of blocks 4, 6, 8 and 12 (MAE-Lite's ``out_indices``)."""


class ViTBackbone(nn.Module):
    """Wraps a timm ViT; ``forward`` returns the outputs of blocks ``indices`` (no final norm) as NCHW maps.

    Blocks after the last index, the final norm and the classifier are pruned (timm's
    ``prune_intermediate_layers``), so every parameter is trained. The ViT is built with
    ``dynamic_img_size=True``: the position table is interpolated for any input whose sides are multiples of
    the patch size.
    """

    def __init__(self, *, vit: nn.Module, indices: Sequence[int] = DEFAULT_INDICES) -> None:
        super().__init__()
        if not hasattr(vit, "forward_intermediates"):
            raise TypeError(f"{type(vit).__name__} has no forward_intermediates(); expected a timm ViT")
        depth = len(vit.blocks)
        indices = [int(i) for i in indices]
        if not indices or sorted(set(indices)) != indices or indices[0] < 0 or indices[-1] >= depth:
            raise ValueError(f"indices must be increasing block indices in [0, {depth}), got {indices}")
        vit.prune_intermediate_layers(indices, prune_norm=True, prune_head=True)
        self.vit, self.indices = vit, tuple(indices)
        self.embed_dim = int(vit.embed_dim)
        self.patch_size = int(vit.patch_embed.patch_size[0])
        self.out_channels = (self.embed_dim,) * len(self.indices)
        self.strides = (self.patch_size,) * len(self.indices)

    @property
    def size_divisor(self) -> int:
        """Input sides must be multiples of this (the patch size)."""
        return self.patch_size

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, 3, H, W]`` -> ``len(indices)`` maps ``[B, embed_dim, H/p, W/p]``."""
        _, _, height, width = images.shape
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"input sides must be multiples of the patch size {self.patch_size}, got {height}x{width}")
        return self.vit.forward_intermediates(images, indices=list(self.indices), intermediates_only=True)


def build_vit_backbone(
    name: str = "vislite_vit_tiny",
    *,
    img_size: int = 512,
    indices: Sequence[int] = DEFAULT_INDICES,
    drop_path_rate: float = 0.1,
    init_values: float | None = None,
    init: str | os.PathLike | None = None,
    rel_pos_bias: bool = False,
    checkpoint_qv_bias: str = "merge",
    require_init: bool = False,
    **model_kwargs: Any,
) -> ViTBackbone:
    """A :class:`ViTBackbone` over timm model ``name`` at ``img_size``, optionally initialised from ``init``.

    ``init`` is a local file: a vislite Lightning checkpoint (pre-training, fine-tuning or segmentation), a
    released MAE-Lite checkpoint, or a plain timm state dict (see :func:`load_backbone_weights`).
    ``init_values`` adds layer scale (1.0 in MAE-Lite's segmentation backbone). ``rel_pos_bias`` gives every block
    mmseg ``MAE``'s relative position bias over the ``img_size`` grid (zero-initialised, trainable; a checkpoint's
    table is resized to it) with a plain ``qkv.bias``; ``checkpoint_qv_bias`` says what a checkpoint's ``q_bias`` /
    ``v_bias`` become (:func:`load_backbone_weights`). ``require_init`` makes a missing ``init`` an error (recipes
    that only make sense from a checkpoint). ``model_kwargs`` go to ``timm.create_model``.
    """
    if require_init and init is None:
        raise ValueError("this recipe starts from a checkpoint: set model.model.backbone.init=/path/to/weights")
    if not timm.is_model(name):
        raise ValueError(f"unknown backbone {name!r}; vislite registers: {', '.join(list_backbones())}")
    vit = timm.create_model(
        name,
        pretrained=False,
        num_classes=0,
        img_size=img_size,
        drop_path_rate=drop_path_rate,
        init_values=init_values,
        dynamic_img_size=True,
        **({"rel_pos_bias": True, "qv_bias": False} if rel_pos_bias else {}),
        **model_kwargs,
    )
    if init is not None:
        load_backbone_weights(vit, init, qv_bias=checkpoint_qv_bias)
    return ViTBackbone(vit=vit, indices=indices)
