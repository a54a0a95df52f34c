"""Classifiers over one exported width: linear evaluation (frozen) and semi-supervised fine-tuning (all trained)."""

from __future__ import annotations

import torch
from torch import nn

from vislite_pretrain.dspnet.export import load_slim_backbone


class WidthClassifier(nn.Module):
    """``backbone(images) -> [N, C]`` pooled features, then ``head``.

    ``linear=True``: the backbone is frozen and kept in eval mode, the head is BatchNorm1d(affine=False) + Linear
    (the linear-evaluation protocol); otherwise everything trains and the head is a Linear (fine-tuning).
    """

    def __init__(self, *, backbone: nn.Module, num_classes: int, linear: bool) -> None:
        super().__init__()
        self.backbone, self.linear = backbone, linear
        dim = int(backbone.num_features)
        fc = nn.Linear(dim, num_classes)
        nn.init.normal_(fc.weight, std=0.01)
        nn.init.zeros_(fc.bias)
        self.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False), fc) if linear else fc
        if linear:
            self.backbone.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> WidthClassifier:
        super().train(mode)
        if self.linear:
            self.backbone.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.linear:
            with torch.no_grad():
                features = self.backbone(images)
        else:
            features = self.backbone(images)
        return self.head(features)


def build_width_classifier(
    init: str, *, width_mult: float | None = None, num_classes: int, linear: bool
) -> WidthClassifier:
    """:class:`WidthClassifier` over the width exported at ``init`` (a ``backbone.json`` or its folder); a
    ``width_mult`` that differs from the exported one is refused."""
    backbone = load_slim_backbone(init, width_mult=width_mult)
    return WidthClassifier(backbone=backbone, num_classes=num_classes, linear=linear)
