"""The SiamFC++ dense box head: two towers of 3x3 convs, cls / ctr logits and exp-scaled ltrb box offsets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vislite_tracking.siamfcpp.model.blocks import ConvBNReLU
from vislite_tracking.siamfcpp.targets import score_locations


class DenseboxHead(nn.Module):
    """``(cls, ctr, box)``: (B, S², 1) logits, (B, S², 1) logits, (B, S², 4) xyxy boxes in crop pixels.

    Boxes: ``offsets = exp(si · o + bi) · stride`` (ltrb) around each location ``offset + stride·(x, y)``,
    the location grid laid out for the actual score size S and ``x_size``.
    """

    def __init__(
        self, width: int = 256, num_conv3x3: int = 3, conv_bn: Sequence[bool] = (False, False, True), stride: int = 8
    ) -> None:
        super().__init__()
        if len(conv_bn) != num_conv3x3:
            raise ValueError(f"head conv_bn: expected {num_conv3x3} flags, got {list(conv_bn)}")
        self.num_conv3x3, self.total_stride = num_conv3x3, stride
        for i, bn in enumerate(conv_bn, start=1):
            setattr(self, f"cls_p5_conv{i}", ConvBNReLU(width, width, bn=bn))
            setattr(self, f"bbox_p5_conv{i}", ConvBNReLU(width, width, bn=bn))
        self.cls_score_p5 = ConvBNReLU(width, 1, kernel_size=1, bn=False, relu=False)
        self.ctr_score_p5 = ConvBNReLU(width, 1, kernel_size=1, bn=False, relu=False)
        self.bbox_offsets_p5 = ConvBNReLU(width, 4, kernel_size=1, bn=False, relu=False)
        self.bi = nn.Parameter(torch.tensor(0.0))
        self.si = nn.Parameter(torch.tensor(1.0))
        self.reset_parameters()

    def reset_parameters(self, std: float = 1e-4, prior: float = 0.01) -> None:
        """video_analyst's initialisation: N(0, std) weights, the cls bias at the focal-loss prior."""
        convs = [getattr(self, f"{t}_p5_conv{i}").conv for i in range(1, self.num_conv3x3 + 1) for t in ("cls", "bbox")]
        convs += [self.cls_score_p5.conv, self.ctr_score_p5.conv, self.bbox_offsets_p5.conv]
        for conv in convs:
            nn.init.normal_(conv.weight, std=std)
            if conv is self.cls_score_p5.conv:
                nn.init.constant_(conv.bias, -math.log((1 - prior) / prior))
            else:
                bound = 1 / math.sqrt(conv.weight[0].numel())
                nn.init.uniform_(conv.bias, -bound, bound)

    def forward(
        self, c_out: torch.Tensor, r_out: torch.Tensor, x_size: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cls, box = c_out, r_out
        for i in range(1, self.num_conv3x3 + 1):
            cls = getattr(self, f"cls_p5_conv{i}")(cls)
            box = getattr(self, f"bbox_p5_conv{i}")(box)
        cls_score = self.cls_score_p5(cls).permute(0, 2, 3, 1).flatten(1, 2)  # (B, S², 1)
        ctr_score = self.ctr_score_p5(cls).permute(0, 2, 3, 1).flatten(1, 2)  # (B, S², 1)
        offsets = torch.exp(self.si * self.bbox_offsets_p5(box) + self.bi) * self.total_stride  # (B, 4, S, S)
        offsets = offsets.permute(0, 2, 3, 1).flatten(1, 2)  # (B, S², 4)
        points = score_locations(x_size, box.shape[-1], self.total_stride, offsets.dtype)
        points = points.to(offsets.device)[None]  # (1, S², 2)
        boxes = torch.cat([points - offsets[..., :2], points + offsets[..., 2:]], dim=2)  # (B, S², 4) xyxy
        return cls_score, ctr_score, boxes
