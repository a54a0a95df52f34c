"""The HierKD head: ATSS towers whose classifier outputs a per-anchor embedding in the teacher's text space."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Scale(nn.Module):
    """A learnable scalar (init ``value``) multiplying the box deltas of one level."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def tower(channels: int, num_convs: int, norm_groups: int) -> nn.Sequential:
    """``num_convs`` × (3×3 conv without bias, GroupNorm, ReLU)."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.GroupNorm(norm_groups, channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class HierKDHead(nn.Module):
    """ATSS head with one anchor per location: embedding (``embed_dim``), box deltas (4) and IoU quality (1).

    ``forward(features)`` returns per level ``embeds`` (B, D, H, W) (not normalised), ``deltas`` (B, 4, H, W)
    (times a learnable per-level scale) and ``quality`` logits (B, 1, H, W). Convolutions start from N(0, 0.01),
    the embedding conv's bias from the focal prior −log(99) (mmdetection's ``bias_prob=0.01``).
    """

    def __init__(
        self, *, in_channels: int, embed_dim: int, num_levels: int = 5, num_convs: int = 4, norm_groups: int = 32
    ) -> None:
        super().__init__()
        if in_channels % norm_groups:
            raise ValueError(f"head width {in_channels} is not divisible into {norm_groups} GroupNorm groups")
        self.embed_dim = embed_dim
        self.cls_convs = tower(in_channels, num_convs, norm_groups)
        self.reg_convs = tower(in_channels, num_convs, norm_groups)
        self.atss_cls = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.atss_reg = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.atss_quality = nn.Conv2d(in_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in range(num_levels))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.constant_(self.atss_cls.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, features: list[Tensor]) -> dict[str, list[Tensor]]:
        if len(features) != len(self.scales):
            raise ValueError(f"the head has {len(self.scales)} levels, got {len(features)} feature maps")
        out: dict[str, list[Tensor]] = {"embeds": [], "deltas": [], "quality": []}
        for x, scale in zip(features, self.scales):
            cls_feat = self.cls_convs(x)
            reg_feat = self.reg_convs(x)
            out["embeds"].append(self.atss_cls(cls_feat))
            out["deltas"].append(scale(self.atss_reg(reg_feat)))
            out["quality"].append(self.atss_quality(reg_feat))
        return out
