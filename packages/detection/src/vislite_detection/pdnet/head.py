"""PDNet's head (``PDNetHead`` + ``PredDecoupleHead``): towers, dynamic points and prediction collection.

Per level, from the reg tower a 3x3 conv predicts 34 channels split ``[4, 4, 18, 8]``: the coarse-box offsets
from the anchor points, the 4 tangential offsets of the boundary points, the 9 semantic points' (dy, dx) and the
cross-level attention logits (2 per boundary point). A 1x1 conv gives the 4-channel regression map, another on
the cls tower the ``9 x K`` classification map. Everything is in grid units of the level, boxes as (t, l, b, r).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vislite_detection.pdnet.collect import collect_concat, collect_merge

SPLITS = (4, 4, 18, 8)
BOUND_LOCATION_INDEX = (0, 3, 4, 7)
"""Channels of the boundary points that carry the box edges: y of top, x of left, y of bottom, x of right."""


def full(x: Tensor) -> Tensor:
    """``x`` in float32 unless it is float32 or float64 already."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def tower(channels: int, num_convs: int, norm_groups: int) -> nn.Sequential:
    """``num_convs`` x (3x3 conv without bias, GroupNorm, ReLU)."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.GroupNorm(norm_groups, channels)]
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def anchor_points(height: int, width: int, step: float, like: Tensor) -> Tensor:
    """The two anchor points of each cell, grid +- ``step`` cells, as a box ``[1, 4, H, W]`` (t, l, b, r)."""
    y = torch.arange(height, dtype=like.dtype, device=like.device)[:, None].expand(height, width)
    x = torch.arange(width, dtype=like.dtype, device=like.device)[None, :].expand(height, width)
    return torch.stack([y - step, x - step, y + step, x + step])[None]


def boundary_points(box: Tensor) -> Tensor:
    """The cross-shaped points (t, cx), (cy, l), (b, cx), (cy, r) of boxes ``[N, 4, H, W]`` -> ``[N, 8, H, W]``."""
    top, left, bottom, right = box.unbind(1)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    return torch.stack([top, cx, cy, left, bottom, cx, cy, right], dim=1)


def semantic_points(box: Tensor) -> Tensor:
    """The 3x3 grid (corners, edge centres, centre) of boxes ``[N, 4, H, W]`` -> ``[N, 18, H, W]``, row-major."""
    top, left, bottom, right = box.unbind(1)
    ys = (top, (top + bottom) / 2, bottom)
    xs = (left, (left + right) / 2, right)
    return torch.stack([c for y in ys for x in xs for c in (y, x)], dim=1)


def limit_offsets(offset: Tensor, box: Tensor, ratio: float) -> Tensor:
    """Straight-through clamp of the tangential offsets ``[N, 4, H, W]`` to ``+-ratio`` x the box half-size.

    Offsets 0 and 2 move along x (limited by half the width), 1 and 3 along y (half the height). The value is
    clamped, the gradient passes unchanged: ``offset - extra.detach()``.
    """
    half = torch.stack([box[:, 3] - box[:, 1], box[:, 2] - box[:, 0]], dim=1) / 2 * ratio  # [N, 2, H, W] (w, h)
    limit = half.repeat(1, 2, 1, 1)  # [N, 4, H, W]: w, h, w, h
    extra = (offset - limit).clamp(min=0) + (offset + limit).clamp(max=0)
    return offset - extra.detach()


class PDNetHead(nn.Module):
    """PDNet's prediction-decoupled head for ``num_classes`` foreground classes over the levels of a pyramid.

    ``forward(features)`` returns per-level lists: ``cls_logits`` [N,K,H,W], ``coarse_boxes`` and ``reg_boxes``
    [N,4,H,W] (t, l, b, r in grid units), ``boundary_points`` [N,8,H,W] and ``semantic_points`` [N,18,H,W]
    ((y, x) pairs in grid units, for drawing).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        num_convs: int = 4,
        norm_groups: int = 32,
        anchor_step: float = 2.0,
        offset_limit_ratio: float | None = 1.5,
        prior_prob: float = 0.01,
        semantic_points: int = 9,
    ) -> None:
        super().__init__()
        if in_channels % norm_groups:
            raise ValueError(f"head width {in_channels} is not divisible into {norm_groups} GroupNorm groups")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 foreground class, got {num_classes}")
        if semantic_points != 9:
            raise ValueError(f"PDNet's semantic points are a 3x3 grid, got semantic_points={semantic_points}")
        self.num_classes = num_classes
        self.anchor_step = anchor_step
        self.offset_limit_ratio = offset_limit_ratio
        self.reg_tower = tower(in_channels, num_convs, norm_groups)
        self.cls_tower = tower(in_channels, num_convs, norm_groups)
        self.dyn_pt_pred = nn.Conv2d(in_channels, sum(SPLITS), 3, padding=1)
        self.reg_map_pred = nn.Conv2d(in_channels, 4, 1, bias=False)
        self.cls_map_pred = nn.Conv2d(in_channels, 9 * num_classes, 1, bias=False)
        self.cls_collect_bias = nn.Parameter(torch.empty(num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.constant_(self.cls_collect_bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, features: Sequence[Tensor]) -> dict[str, list[Tensor]]:
        reg_feats = [self.reg_tower(f) for f in features]
        cls_feats = [self.cls_tower(f) for f in features]
        reg_maps = [self.reg_map_pred(f) for f in reg_feats]
        cls_maps = [self.cls_map_pred(f) for f in cls_feats]
        out: dict[str, list[Tensor]] = {
            k: [] for k in ("cls_logits", "coarse_boxes", "reg_boxes", "boundary_points", "semantic_points")
        }
        # points and collection in float32 even under bf16 / fp16 autocast: a bf16 row index of P3 (up to 168) is
        # off by up to half a cell
        with torch.autocast(reg_feats[0].device.type, enabled=False):
            return self._collect(
                [self.dyn_pt_pred(full(f)) for f in reg_feats],
                [full(m) for m in reg_maps],
                [full(m) for m in cls_maps],
                out,
            )

    def _collect(
        self, dyn: list[Tensor], reg_maps: list[Tensor], cls_maps: list[Tensor], out: dict[str, list[Tensor]]
    ) -> dict[str, list[Tensor]]:
        """Points and collected predictions of every level from the 34-channel point predictions ``dyn``."""
        for i, pred in enumerate(dyn):
            n, _, h, w = pred.shape
            init_offset, bound_offset, semantic_offset, attention = pred.split(SPLITS, dim=1)
            coarse = anchor_points(h, w, self.anchor_step, pred) + init_offset  # [N, 4, H, W] (t, l, b, r)
            if self.offset_limit_ratio is not None:
                bound_offset = limit_offsets(bound_offset, coarse, self.offset_limit_ratio)
            bound = boundary_points(coarse.detach())  # [N, 8, H, W]
            zero = bound.new_zeros(n, h, w)
            o = bound_offset.unbind(1)
            bound = bound + torch.stack([zero, o[0], o[1], zero, zero, o[2], o[3], zero], dim=1)  # tangential only
            values = collect_concat(reg_maps[i], bound, point_num=4)  # [N, 4, H, W]
            if i > 0:  # the same points x2 on the finer level, x0.5 values, mixed by a 2-way softmax per point
                weights = attention.reshape(n, 4, 2, h, w).softmax(dim=2)
                finer = collect_concat(reg_maps[i - 1], bound * 2, point_num=4) * 0.5
                values = finer * weights[:, :, 0] + values * weights[:, :, 1]
            reg_box = bound[:, BOUND_LOCATION_INDEX].detach() + values
            semantic = semantic_points(coarse.detach()) + semantic_offset  # [N, 18, H, W]
            cls = collect_merge(cls_maps[i], semantic, full(self.cls_collect_bias), point_num=9)  # [N, K, H, W]
            out["cls_logits"].append(cls)
            out["coarse_boxes"].append(coarse)
            out["reg_boxes"].append(reg_box)
            out["boundary_points"].append(bound.detach())
            out["semantic_points"].append(semantic.detach())
        return out
