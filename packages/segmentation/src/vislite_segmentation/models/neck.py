"""MAE-Lite's ``Feature2Pyramid_Scale`` neck: four single-scale ViT maps (stride p) -> strides p/4, p/2, p, 2p."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SCALES = (4.0, 2.0, 1.0, 0.5)
"""Resampling factor of each branch: 4x and 2x transposed convolutions, identity (1x1 conv), 0.5x max-pool."""


def _branch(scale: float, in_channels: int, out_channels: int) -> nn.Sequential:
    if scale == 4.0:
        return nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
            nn.ConvTranspose2d(out_channels, out_channels, kernel_size=2, stride=2),
        )
    if scale == 2.0:
        return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2))
    if scale == 1.0:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1))
    if scale == 0.5:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1), nn.MaxPool2d(kernel_size=2, stride=2))
    raise ValueError(f"unsupported pyramid scale {scale}; expected one of {SCALES}")


class FeaturePyramidNeck(nn.Module):
    """One branch per input map (``scales`` in order); each maps ``in_channels`` to ``out_channels``.

    With a patch-16 ViT the outputs have strides 4, 8, 16 and 32. ``out_channels`` defaults to
    ``in_channels // 4`` (48 for ViT-Tiny, as in MAE-Lite). BatchNorm becomes SyncBatchNorm under DDP with the
    trainer's ``sync_batchnorm=True``.
    """

    def __init__(self, *, in_channels: int, out_channels: int | None = None, scales: Sequence[float] = SCALES) -> None:
        super().__init__()
        self.out_channels = int(out_channels or in_channels // 4)
        self.scales = tuple(float(s) for s in scales)
        self.branches = nn.ModuleList(_branch(s, in_channels, self.out_channels) for s in self.scales)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``len(scales)`` maps ``[B, C_in, h, w]`` -> ``[B, C_out, h * scale, w * scale]`` each."""
        if len(features) != len(self.branches):
            raise ValueError(f"the neck has {len(self.branches)} branches but got {len(features)} feature maps")
        return [branch(x) for branch, x in zip(self.branches, features)]
