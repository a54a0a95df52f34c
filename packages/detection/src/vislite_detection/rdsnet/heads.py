"""RDSNet's two streams: the object stream (cls / reg / rep towers) and the pixel stream (fused P3-P5)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_gn_relu(in_channels: int, out_channels: int, groups: int) -> nn.Sequential:
    """3x3 conv (no bias), GroupNorm, ReLU: mmdetection's ``ConvModule`` with a GN ``norm_cfg``."""
    if out_channels % groups:
        raise ValueError(f"width {out_channels} is not divisible into {groups} GroupNorm groups")
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


def _tower(in_channels: int, width: int, num_convs: int, groups: int) -> nn.Sequential:
    return nn.Sequential(*[conv_gn_relu(in_channels if i == 0 else width, width, groups) for i in range(num_convs)])


class ObjectStream(nn.Module):
    """RetinaNet-style head with three towers: per anchor ``num_classes`` sigmoid logits, 4 box deltas and two
    ``rep_channels``-wide object representations (background, foreground)."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_anchors: int,
        num_classes: int,
        rep_channels: int = 32,
        feat_channels: int = 256,
        num_convs: int = 4,
        norm_groups: int = 32,
        prior_prob: float = 0.01,
        rep_init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.num_classes = num_classes
        self.rep_channels = rep_channels
        self.cls_tower = _tower(in_channels, feat_channels, num_convs, norm_groups)
        self.reg_tower = _tower(in_channels, feat_channels, num_convs, norm_groups)
        self.rep_tower = _tower(in_channels, feat_channels, num_convs, norm_groups)
        self.cls_logits = nn.Conv2d(feat_channels, num_anchors * num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(feat_channels, num_anchors * 4, 3, padding=1)
        self.obj_rep = nn.Conv2d(feat_channels, num_anchors * rep_channels * 2, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_prob) / prior_prob))
        nn.init.normal_(self.obj_rep.weight, std=rep_init_std)

    def forward(self, features: list[Tensor]) -> dict[str, Tensor]:
        """Per-level maps -> ``cls_logits`` [B, A_total, K], ``bbox_regression`` [B, A_total, 4],
        ``obj_reps`` [B, A_total, 2, D], anchors ordered level, y, x, anchor (torchvision's order)."""
        cls, reg, rep = [], [], []
        for x in features:
            b, _, h, w = x.shape
            a = self.num_anchors
            # [B, A*C, H, W] -> [B, H, W, A, C] -> [B, H*W*A, C]
            cls.append(
                self.cls_logits(self.cls_tower(x))
                .view(b, a, -1, h, w)
                .permute(0, 3, 4, 1, 2)
                .reshape(b, -1, self.num_classes)
            )
            reg.append(self.bbox_pred(self.reg_tower(x)).view(b, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 4))
            rep.append(
                self.obj_rep(self.rep_tower(x))
                .view(b, a, 2 * self.rep_channels, h, w)
                .permute(0, 3, 4, 1, 2)
                .reshape(b, -1, 2, self.rep_channels)
            )
        return {
            "cls_logits": torch.cat(cls, dim=1),
            "bbox_regression": torch.cat(reg, dim=1),
            "obj_reps": torch.cat(rep, dim=1),
        }


def _up2(x: Tensor) -> Tensor:
    """x2 bilinear upsampling with aligned corners (``nn.UpsamplingBilinear2d``, the official layer)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class PixelStream(nn.Module):
    """Panoptic-FPN-style fusion of P3-P5 to stride 4 and a 1x1 conv to ``rep_channels``.

    Level i passes i (3x3 conv GN ReLU, x2 up) stages (level 0 a single conv), the sum gets ``num_convs`` more
    (conv, x2 up): with P3-P5 and one final conv the map is at stride 4.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_levels: int = 3,
        num_convs: int = 1,
        conv_channels: int = 256,
        rep_channels: int = 32,
        norm_groups: int = 32,
        rep_init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.num_levels = num_levels
        self.lateral = nn.ModuleList([nn.ModuleList([conv_gn_relu(in_channels, conv_channels, norm_groups)])])
        for level in range(1, num_levels):
            convs = [
                conv_gn_relu(in_channels if j == 0 else conv_channels, conv_channels, norm_groups) for j in range(level)
            ]
            self.lateral.append(nn.ModuleList(convs))
        self.final = nn.ModuleList([conv_gn_relu(conv_channels, conv_channels, norm_groups) for _ in range(num_convs)])
        self.to_reps = nn.Conv2d(conv_channels, rep_channels, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.to_reps.weight, std=rep_init_std)

    def forward(self, features: list[Tensor]) -> Tensor:
        """``features`` P3, P4, ... (at least ``num_levels``) -> pixel representations [B, D, H/4, W/4]."""
        x = self.lateral[0][0](features[0])
        for level in range(1, self.num_levels):
            y = features[level]
            for conv in self.lateral[level]:
                y = _up2(conv(y))
            x = x + y[..., : x.shape[-2], : x.shape[-1]]
        for conv in self.final:
            x = _up2(conv(x))
        return self.to_reps(x)
