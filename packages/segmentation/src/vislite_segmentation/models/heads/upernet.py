"""UperNet's head (mmseg ``UPerHead``): a pyramid-pooling module on the coarsest map, an FPN top-down path, and
a fusion of all levels at the finest stride."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vislite_segmentation.eval.miou import IGNORE_INDEX
from vislite_segmentation.models.heads.base import DecodeHead, conv_bn_relu, resize


class PyramidPooling(nn.Module):
    """PSPNet's pooling module: adaptive average pools at ``scales``, 1x1 conv each, upsampled and concatenated
    with the input, then a 3x3 bottleneck to ``channels``."""

    def __init__(self, *, in_channels: int, channels: int, scales: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.pools = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(s), conv_bn_relu(in_channels, channels, kernel_size=1)) for s in scales
        )
        self.bottleneck = conv_bn_relu(in_channels + len(scales) * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = [resize(pool(x), x.shape[-2:]) for pool in self.pools]  # each [B, channels, h, w]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))


class UPerHead(DecodeHead):
    """UperNet decode head over maps of increasing stride (``in_channels`` per level)."""

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        channels: int = 512,
        num_classes: int,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
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
        widths = list(in_channels)
        self.psp = PyramidPooling(in_channels=widths[-1], channels=channels, scales=pool_scales)
        self.lateral = nn.ModuleList(conv_bn_relu(w, channels, kernel_size=1) for w in widths[:-1])
        self.fpn = nn.ModuleList(conv_bn_relu(channels, channels) for _ in widths[:-1])
        self.fuse = conv_bn_relu(len(widths) * channels, channels)

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        laterals = [conv(x) for conv, x in zip(self.lateral, inputs[:-1])] + [self.psp(inputs[-1])]
        for i in range(len(laterals) - 1, 0, -1):  # top-down: add the coarser level, upsampled
            laterals[i - 1] = laterals[i - 1] + resize(laterals[i], laterals[i - 1].shape[-2:])
        outs = [conv(x) for conv, x in zip(self.fpn, laterals[:-1])] + [laterals[-1]]
        size = outs[0].shape[-2:]
        return self.fuse(torch.cat([resize(x, size) for x in outs], dim=1))  # [B, L * channels, h0, w0] -> channels
