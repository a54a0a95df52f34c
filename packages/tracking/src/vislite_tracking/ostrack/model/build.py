"""``build_ostrack``: the tracker network from a registered ViT name, optionally initialised from a local file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import timm

import vislite_common  # noqa: F401  (registers the vislite ViTs in timm's registry)
from vislite_tracking.ostrack.model.backbone import OneStreamViT
from vislite_tracking.ostrack.model.head import CenterHead
from vislite_tracking.ostrack.model.ostrack import OSTrack
from vislite_tracking.ostrack.model.weights import load_backbone_weights


def build_ostrack(
    *,
    backbone: str = "vislite_vit_tiny",
    pretrained: str | os.PathLike | None = None,
    drop_path_rate: float = 0.1,
    template_size: int = 128,
    search_size: int = 256,
    ce_loc: Sequence[int] = (3, 6, 9),
    ce_keep_ratio: Sequence[float] = (0.7, 0.7, 0.7),
    head_channels: int = 256,
    backbone_kwargs: dict[str, Any] | None = None,
) -> OSTrack:
    """One-stream ViT + centre head (OSTrack-256 with ``vislite_vit_tiny``: 12 heads, CE at blocks 3, 6, 9).

    ``pretrained`` is a local backbone checkpoint (vislite pre-training, released MAE-Lite, or a timm state dict,
    see :func:`load_backbone_weights`); the template / search position tables are resized from its table. The
    build arguments are kept in ``model.build_args`` so a checkpoint can rebuild the network.
    """
    vit = timm.create_model(
        backbone,
        pretrained=False,
        num_classes=0,
        global_pool="avg",
        fc_norm=False,  # a final LayerNorm over the tokens, as the MAE encoder and OSTrack
        drop_path_rate=drop_path_rate,
        **(backbone_kwargs or {}),
    )
    if pretrained is not None:
        load_backbone_weights(vit, pretrained)
    net = OSTrack(
        backbone=OneStreamViT(
            vit=vit, template_size=template_size, search_size=search_size, ce_loc=ce_loc, ce_keep_ratio=ce_keep_ratio
        ),
        box_head=CenterHead(in_channels=int(vit.embed_dim), channels=head_channels),
    )
    net.build_args = {
        "backbone": backbone,
        "template_size": int(template_size),
        "search_size": int(search_size),
        "ce_loc": [int(i) for i in ce_loc],
        "ce_keep_ratio": [float(r) for r in ce_keep_ratio],
        "head_channels": int(head_channels),
        "backbone_kwargs": dict(backbone_kwargs or {}),
    }
    return net
