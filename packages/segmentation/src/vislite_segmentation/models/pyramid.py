"""A hierarchical timm backbone (ResNet, Hiera) as a dense-prediction backbone: its stride-4/8/16/32 stage maps."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

PYRAMID_STRIDES = (4, 8, 16, 32)
"""Output strides of the four maps the Semantic FPN and UperNet heads take."""


class PyramidBackbone(nn.Module):
    """Wraps a timm model with ``feature_info`` and ``forward_intermediates``; ``forward`` returns its stage
    outputs at ``strides`` as NCHW maps (ResNet: ``layer1..4``; Hiera: the ends of its 4 stages).

    The stages after the last one used, the final norm and the classifier are pruned (timm's
    ``prune_intermediate_layers``). The maps already form a pyramid, so no neck is needed. A model built for one
    input size (Hiera: its mask-unit unroll / reroll and position table) accepts only that size (``input_size``).
    """

    def __init__(self, *, body: nn.Module, strides: Sequence[int] = PYRAMID_STRIDES) -> None:
        super().__init__()
        if not hasattr(body, "forward_intermediates") or not hasattr(body, "feature_info"):
            raise TypeError(f"{type(body).__name__} has no forward_intermediates() / feature_info")
        info = list(body.feature_info)
        reductions = [int(f["reduction"]) for f in info]
        missing = [s for s in strides if s not in reductions]
        if missing:
            raise ValueError(f"{type(body).__name__} has no stage at stride(s) {missing}; its strides: {reductions}")
        indices = [reductions.index(int(s)) for s in strides]
        body.prune_intermediate_layers(indices, prune_norm=True, prune_head=True)
        self.body, self.indices = body, tuple(indices)
        self.strides = tuple(int(s) for s in strides)
        self.out_channels = tuple(int(info[i]["num_chs"]) for i in indices)
        tokens, stride = getattr(body, "tokens_spatial_shape", None), getattr(body, "patch_stride", None)
        self.input_size = None if tokens is None else (int(tokens[0] * stride[0]), int(tokens[1] * stride[1]))

    @property
    def size_divisor(self) -> int:
        """Input sides must be multiples of this (the coarsest stride) for the maps to align exactly."""
        return self.strides[-1]

    def layer_ids(self) -> dict[str, int]:
        """Layer id of every parameter (keys relative to this module), from the wrapped model's ``layer_ids``."""
        if not callable(getattr(self.body, "layer_ids", None)):
            raise TypeError(
                f"{type(self.body).__name__} has no layer_ids(); set the optimizer's layer_decay to 1.0 or null"
            )
        return {f"body.{name}": i for name, i in self.body.layer_ids().items()}

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, 3, H, W]`` -> maps ``[B, out_channels[i], H / strides[i], W / strides[i]]``."""
        if self.input_size is not None and tuple(images.shape[-2:]) != self.input_size:
            raise ValueError(
                f"{type(self.body).__name__} was built for {self.input_size[0]}x{self.input_size[1]} inputs, got "
                f"{images.shape[-2]}x{images.shape[-1]}; set img_size, or use slide inference with that crop"
            )
        # NCHW straight from timm (Hiera rerolls its tokens [B, h, w, C] and permutes them to [B, C, h, w])
        return self.body.forward_intermediates(
            images, indices=list(self.indices), output_fmt="NCHW", intermediates_only=True
        )
