"""Builder of SiamFC++ networks by backbone name, with video_analyst's head settings per backbone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from vislite_tracking.siamfcpp.model.backbones import AlexNet, Inception3, ShuffleNetV2, TinyConv
from vislite_tracking.siamfcpp.model.head import DenseboxHead
from vislite_tracking.siamfcpp.model.siamfcpp import SiamFCpp

# video_analyst's test configs: AlexNet / ShuffleNetV2 heads have 3 convs (BN on the last, score map 17 for
# 303 crops), the GoogLeNet head 2 convs without BN (score map 19)
HEADS: dict[str, tuple[int, tuple[bool, ...]]] = {
    "alexnet": (3, (False, False, True)),
    "googlenet": (2, (False, False)),
    "shufflenetv2_x1_0": (3, (False, False, True)),
    "shufflenetv2_x0_5": (3, (False, False, True)),
    "test_tiny": (1, (False,)),
}


def make_backbone(name: str, head_width: int, crop_pad: int, tiny_width: int) -> nn.Module:
    """The backbone called ``name`` (one of :data:`HEADS`)."""
    if name == "alexnet":
        if head_width != 256:
            raise ValueError(f"head_width: the AlexNet backbone outputs 256 channels, got head_width={head_width}")
        return AlexNet()
    if name == "googlenet":
        return Inception3(head_width=head_width, crop_pad=crop_pad)
    if name.startswith("shufflenetv2_"):
        return ShuffleNetV2(name.split("_", 1)[1], head_width=head_width, crop_pad=crop_pad)
    if name == "test_tiny":
        return TinyConv(width=tiny_width, head_width=head_width)
    raise ValueError(f"backbone: expected one of {sorted(HEADS)}, got {name!r}")


def build_siamfcpp(
    backbone: str = "googlenet",
    *,
    head_width: int = 256,
    num_conv3x3: int | None = None,
    head_conv_bn: Sequence[bool] | None = None,
    z_size: int = 127,
    x_size: int = 303,
    crop_pad: int = 4,
    tiny_width: int = 16,
    total_stride: int = 8,
) -> SiamFCpp:
    """A SiamFC++ network; head depth and BN flags default to video_analyst's for the backbone."""
    if backbone not in HEADS:
        raise ValueError(f"backbone: expected one of {sorted(HEADS)}, got {backbone!r}")
    default_convs, default_bn = HEADS[backbone]
    num_conv3x3 = default_convs if num_conv3x3 is None else int(num_conv3x3)
    bn_flags = tuple(default_bn if head_conv_bn is None else (bool(b) for b in head_conv_bn))
    net = SiamFCpp(
        make_backbone(backbone, head_width, crop_pad, tiny_width),
        DenseboxHead(head_width, num_conv3x3, bn_flags, total_stride),
        z_size=z_size,
        x_size=x_size,
    )
    args: dict[str, Any] = dict(
        backbone=backbone,
        head_width=head_width,
        num_conv3x3=num_conv3x3,
        head_conv_bn=list(bn_flags),
        z_size=z_size,
        x_size=x_size,
        crop_pad=crop_pad,
        tiny_width=tiny_width,
        total_stride=total_stride,
    )
    net.build_args = args
    return net
