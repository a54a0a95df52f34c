"""The tracker network: a one-stream ViT backbone and a centre head (OSTrack)."""

from __future__ import annotations

import torch
from torch import nn

from vislite_tracking.ostrack.model.backbone import OneStreamViT
from vislite_tracking.ostrack.model.head import CenterHead


class OSTrack(nn.Module):
    """``forward(template, search)`` -> the head's maps and ``boxes`` ``[B, 4]`` (cx, cy, w, h in [0, 1] of the
    search crop).

    Args:
        backbone: the one-stream ViT.
        box_head: a :class:`CenterHead` over the search grid.
    """

    def __init__(self, *, backbone: OneStreamViT, box_head: CenterHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head

    @property
    def template_size(self) -> int:
        return self.backbone.template_grid * self.backbone.patch_size

    @property
    def search_size(self) -> int:
        return self.backbone.search_grid * self.backbone.patch_size

    @property
    def feat_size(self) -> int:
        """Side of the score map (16 for a 256 px search crop and 16 px patches)."""
        return self.backbone.search_grid

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        *,
        template_mask: torch.Tensor | None = None,
        keep_rate: float | None = None,
    ) -> dict[str, torch.Tensor]:
        tokens = self.backbone(template, search, template_mask=template_mask, keep_rate=keep_rate)  # [B, Ls, C]
        grid = self.backbone.search_grid
        features = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, grid, grid)  # [B, C, g, g]
        return self.box_head(features)
