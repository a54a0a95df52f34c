"""Semantic FPN's head (mmseg ``FPNHead``): per-level conv + x2 upsampling towers summed at the finest stride."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vislite_segmentation.eval.miou import IGNORE_INDEX
from vislite_segmentation.models.heads.base import DecodeHead, conv_bn_relu, resize


class _Upsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, (x.shape[-2] * 2, x.shape[-1] * 2))


class FPNHead(DecodeHead):
    """Level ``i`` (stride ``s_i``) gets ``max(1, log2(s_i / s_0))`` 3x3 conv-BN-ReLU blocks, each followed by a
    x2 bilinear upsampling when ``s_i > s_0``; the towers are summed at stride ``s_0`` and classified."""

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        strides: Sequence[int] = (4, 8, 16, 32),
        channels: int = 128,
        num_classes: int,
        dropout: float = 0.1,
        ignore_index: int = IGNORE_INDEX,
        avg_non_ignore: bool = False,
    ) -> None:
        super().__init__(
            channels=channels,
            num_classes=num_classes,
            dropout=dropout,
            ignore_index=ignore_index,
            avg_non_ignore=avg_non_ignore,
        )
        if len(in_channels) != len(strides):
            raise ValueError(f"in_channels {list(in_channels)} and strides {list(strides)} differ in length")
        self.towers = nn.ModuleList()
        for width, stride in zip(in_channels, strides):
            steps = max(1, int(math.log2(stride) - math.log2(strides[0])))
            layers: list[nn.Module] = []
            for k in range(steps):
                layers.append(conv_bn_relu(width if k == 0 else channels, channels))
                if stride != strides[0]:
                    layers.append(_Upsample2x())
            self.towers.append(nn.Sequential(*layers))

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = self.towers[0](inputs[0])  # [B, channels, H/4, W/4]
        for tower, x in zip(self.towers[1:], inputs[1:]):
            out = out + resize(tower(x), out.shape[-2:])
        return out
