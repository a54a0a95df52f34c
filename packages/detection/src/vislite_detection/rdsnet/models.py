"""Registered RDSNet detectors: R-50 / R-101 FPN (the official recipes), ViT-Tiny + simple feature pyramid, tiny."""

from __future__ import annotations

import os

from torch import nn

from vislite_detection.models.registry import register_detector
from vislite_detection.models.resnet_fpn import tiny_resnet_fpn
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.models.vit_fpn import vit_p3_p7
from vislite_detection.models.weights import load_detector_weights
from vislite_detection.pdnet.backbone import resnet_c5_fpn
from vislite_detection.rdsnet.detector import RDSNet


def build_rdsnet(
    *,
    backbone: nn.Module,
    num_classes: int,
    min_size: int | None = None,
    max_size: int | None = None,
    weights: str | os.PathLike | None = None,
    **kwargs: object,
) -> RDSNet:
    """:class:`RDSNet` over ``backbone`` (P3-P7, ``out_channels`` wide); ``min_size`` / ``max_size`` resize inside
    the model (``None``: the data module resizes); ``weights`` a local file of the whole detector."""
    model = RDSNet(
        backbone=backbone,
        num_classes=num_classes,
        transform=DetectionTransform(min_size=min_size, max_size=max_size),
        **kwargs,  # type: ignore[arg-type]
    )
    if weights is not None:
        load_detector_weights(model, weights)
    return model


def resnet_fpn_c5_extra(
    depth: int, *, weights_backbone: str | os.PathLike | None, trainable_layers: int, out_channels: int = 256
) -> nn.Module:
    """ResNet-50/101 FPN as mmdetection v1.0 builds it for RDSNet: P3-P5 from C3-C5, P6 / P7 by stride-2 convs
    on C5 (``add_extra_convs=True``); frozen batch norm and stages with local ImageNet weights."""
    arch = {50: "resnet50", 101: "resnet101"}[depth]
    return resnet_c5_fpn(arch, weights_backbone=weights_backbone, trainable_layers=trainable_layers,
                         out_channels=out_channels)


@register_detector
def rdsnet_resnet50_fpn(
    *, num_classes: int = 81, weights_backbone: str | os.PathLike | None = None, trainable_layers: int = 3, **kwargs
) -> RDSNet:
    """RDSNet R-50-FPN (``frozen_stages=1``: the stem and layer1 frozen, i.e. 3 trainable stages)."""
    backbone = resnet_fpn_c5_extra(50, weights_backbone=weights_backbone, trainable_layers=trainable_layers)
    return build_rdsnet(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def rdsnet_resnet101_fpn(
    *, num_classes: int = 81, weights_backbone: str | os.PathLike | None = None, trainable_layers: int = 3, **kwargs
) -> RDSNet:
    """RDSNet R-101-FPN."""
    backbone = resnet_fpn_c5_extra(101, weights_backbone=weights_backbone, trainable_layers=trainable_layers)
    return build_rdsnet(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def rdsnet_vit_tiny_sfp(
    *,
    num_classes: int = 81,
    init: str | os.PathLike | None = None,
    backbone_name: str = "vislite_vit_tiny",
    img_size: int = 224,
    drop_path_rate: float = 0.1,
    out_channels: int = 256,
    **kwargs,
) -> RDSNet:
    """RDSNet over MAE-Lite's ViT-Tiny with a simple feature pyramid (P3-P5 from the stride-16 map, P6-P7 convs)."""
    backbone = vit_p3_p7(name=backbone_name, init=init, img_size=img_size, drop_path_rate=drop_path_rate,
                         out_channels=out_channels)
    return build_rdsnet(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def test_rdsnet(*, num_classes: int = 9, **kwargs) -> RDSNet:
    """Tiny RDSNet for tests and the embedded world: 16-128-wide ResNet, 32-channel FPN, 2-conv towers (GN 8),
    16-channel representations."""
    kwargs.setdefault("num_convs", 2)
    kwargs.setdefault("norm_groups", 8)
    kwargs.setdefault("rep_channels", 16)
    return build_rdsnet(backbone=tiny_resnet_fpn(out_channels=32, extra="p6p7"), num_classes=num_classes, **kwargs)
