"""The auxiliary FCN head (mmseg ``FCNHead``): 3x3 conv-BN-ReLU blocks on one pyramid level."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vislite_segmentation.eval.miou import IGNORE_INDEX
from vislite_segmentation.models.heads.base import DecodeHead, conv_bn_relu


class FCNHead(DecodeHead):
    """``num_convs`` conv blocks on level ``in_index`` of the feature list (level 2 = stride 16 in UperNet).

    ``in_channels`` is that level's width, or the widths of all levels (the builders pass those)."""

    def __init__(
        self,
        *,
        in_channels: int | Sequence[int],
        in_index: int = 2,
        channels: int = 256,
        num_convs: int = 1,
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
        self.in_index = int(in_index)
        if not isinstance(in_channels, int):
            in_channels = int(list(in_channels)[self.in_index])
        self.convs = nn.Sequential(
            *(conv_bn_relu(in_channels if i == 0 else channels, channels) for i in range(max(1, num_convs)))
        )

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.convs(inputs[self.in_index])
