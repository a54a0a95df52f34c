"""PDNet's backbones: ResNet / ResNeXt + FPN with P6, P7 from C5 (``R-*-FPN-RETINANET``, ``USE_C5: True``)."""

from __future__ import annotations

import os

from torch import nn
from torchvision.models import resnet50, resnet101, resnext101_64x4d
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from vislite_detection.models.resnet_fpn import freeze_stages, load_resnet_weights, resnet_with_fpn

ARCHS = {"resnet50": resnet50, "resnet101": resnet101, "resnext101_64x4d": resnext101_64x4d}


def resnet_c5_fpn(
    arch: str,
    *,
    weights_backbone: str | os.PathLike | None = None,
    trainable_layers: int = 3,
    out_channels: int = 256,
) -> BackboneWithFPN:
    """torchvision's ``arch`` (C3-C5) with an FPN and P6/P7 by stride-2 convs on C5 (``LastLevelP6P7(2048, 256)``).

    With ``weights_backbone`` (a local ImageNet state dict in torchvision layout) batch norm is frozen and the
    stem and ``layer1`` stay fixed (``FREEZE_CONV_BODY_AT: 2`` = ``trainable_layers=3``); without, everything
    trains with batch norm. torchvision's bottlenecks stride in the 3x3 conv (MSRA's Caffe R-50/101 stride in the
    1x1), so converted MSRA weights run with that one difference.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown PDNet backbone {arch!r}; expected one of {sorted(ARCHS)}")
    pretrained = weights_backbone is not None
    body = ARCHS[arch](weights=None, norm_layer=FrozenBatchNorm2d if pretrained else nn.BatchNorm2d)
    if pretrained:
        load_resnet_weights(body, weights_backbone)
    freeze_stages(body, trainable_layers if pretrained else 5)
    return resnet_with_fpn(
        body,
        stage_channels=(256, 512, 1024, 2048),
        returned_layers=(2, 3, 4),
        out_channels=out_channels,
        extra_blocks=LastLevelP6P7(2048, out_channels),
    )


def tiny_resnet_c5_fpn(*, out_channels: int = 32) -> BackboneWithFPN:
    """Test-size ResNet (``test_vislite_resnet``, widths 16-128) + FPN, P6/P7 from C5 as PDNet does."""
    import timm

    import vislite_common  # noqa: F401  (registers test_vislite_resnet)

    body = timm.create_model("test_vislite_resnet", num_classes=0)
    return resnet_with_fpn(
        body,
        stage_channels=(16, 32, 64, 128),
        returned_layers=(2, 3, 4),
        out_channels=out_channels,
        extra_blocks=LastLevelP6P7(128, out_channels),
    )
