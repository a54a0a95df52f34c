"""mmdetection 2.8's FCOS head (GN towers, centerness on the regression branch, a learnable Scale per level)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vislite_detection.fcos_mmdet.points import STRIDES


class Scale(nn.Module):
    """Multiplies its input by one learnable scalar (initialised to ``scale``)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def _tower(in_channels: int, channels: int, num_convs: int, norm_groups: int) -> nn.Sequential:
    """``num_convs`` x (3x3 conv without bias, GroupNorm, ReLU)."""
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [
            nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1, bias=False),
            nn.GroupNorm(norm_groups, channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class MMDetFCOSHead(nn.Module):
    """FCOS head of mmdetection 2.8 with ``norm_on_bbox`` and ``centerness_on_reg`` (NDet's configuration).

    Returns per level ``cls_scores`` [B, C, H, W] logits (no background column), ``bbox_preds`` [B, 4, H, W] and
    ``centernesses`` [B, 1, H, W] logits. ``bbox_preds`` = relu(Scale_l(conv)) in stride units in training and
    times the level's stride (pixels) in evaluation mode, as mmdetection's ``forward_single``. Initialisation:
    N(0, 0.01) convolutions, zero biases, classification bias -log(99) (prior 0.01), GroupNorm 1 / 0.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        strides: Sequence[int] = STRIDES,
        num_convs: int = 4,
        feat_channels: int | None = None,
        norm_groups: int = 32,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        channels = feat_channels or in_channels
        if channels % norm_groups:
            raise ValueError(f"head width {channels} is not divisible into {norm_groups} GroupNorm groups")
        self.num_classes, self.strides = num_classes, tuple(int(s) for s in strides)
        self.cls_convs = _tower(in_channels, channels, num_convs, norm_groups)
        self.reg_convs = _tower(in_channels, channels, num_convs, norm_groups)
        self.conv_cls = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.conv_reg = nn.Conv2d(channels, 4, 3, padding=1)
        self.conv_centerness = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.strides)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.constant_(self.conv_cls.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, features: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        if len(features) != len(self.strides):
            raise ValueError(f"the head has {len(self.strides)} levels, got {len(features)} feature maps")
        cls_scores, bbox_preds, centernesses = [], [], []
        for feature, scale, stride in zip(features, self.scales, self.strides):
            cls_feat, reg_feat = self.cls_convs(feature), self.reg_convs(feature)
            distances = F.relu(scale(self.conv_reg(reg_feat)).float())
            if not self.training:
                distances = distances * stride
            cls_scores.append(self.conv_cls(cls_feat))
            bbox_preds.append(distances)
            centernesses.append(self.conv_centerness(reg_feat))
        return cls_scores, bbox_preds, centernesses
