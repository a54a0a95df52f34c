"""Slimmable ResNet (S-ResNet-50 of Yu et al. 2019) and the ordinary ResNet of one width it slims to.

Width rule: every convolution and BatchNorm has ``int(c * w)`` of the full network's ``c`` channels: the 7x7/2
stem (64), the bottleneck middles (64 / 128 / 256 / 512) and outputs (256 / 512 / 1024 / 2048), the projection
shortcuts alike. Blocks 3 / 4 / 6 / 3, stride on the 3x3 convolution (torchvision's "v1.5" layout), a projection
shortcut wherever the stride is not 1 or the channel count changes. The output is the globally average-pooled
feature ``(N, int(2048 * w))``; there is no classifier.

Key names follow torchvision / timm (``conv1``, ``bn1``, ``layer1.0.conv2``, ``layer2.0.downsample.0``); a
switchable BatchNorm keeps width ``i``'s BatchNorm under ``<name>.bn.<i>``. The ordinary network of one width,
:class:`WidthResNet`, is vislite's timm ResNet (registered as ``vislite_slim_resnet50`` /
``test_vislite_slim_resnet`` with a ``width_mult`` argument), so a slimmed width loads through
``create_backbone`` and works wherever a ResNet does (``features_only``, ``forward_intermediates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import timm
import torch
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from timm.models.resnet import Bottleneck, make_blocks
from torch import nn

from vislite_common.backbones.interface import pretrained_cfg
from vislite_common.backbones.resnet import ResNet
from vislite_common.backbones.slimmable import DEFAULT_WIDTHS, SlimmableMixin, register_slimmable
from vislite_common.backbones.slimmable_ops import SlimmableConv2d, SwitchableBatchNorm2d

RESNET50_LAYOUT: dict[str, Any] = dict(layers=(3, 4, 6, 3), channels=(64, 128, 256, 512), stem_width=64)
"""ResNet-50: blocks per stage, bottleneck middle widths (outputs are 4x), stem width."""
TEST_RESNET_LAYOUT: dict[str, Any] = dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem_width=16)
"""The tiny test variant: one bottleneck per stage, middles 8 / 16 / 32 / 64 (outputs 32 ... 256), stem 16."""
EXPANSION = 4


def scaled(channels: int, width_mults: Sequence[float]) -> list[int]:
    """``[int(channels * w) for w in width_mults]``, refusing a width that leaves no channel."""
    counts = [int(channels * w) for w in width_mults]
    if min(counts) < 1:
        raise ValueError(f"width_mults {tuple(width_mults)} leave no channel of a {channels}-channel layer")
    return counts


class SlimmableBottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 bottleneck with slimmable convolutions and switchable BatchNorms."""

    def __init__(
        self, in_chs: list[int], mid_chs: list[int], out_chs: list[int], stride: int, width_mults: Sequence[float]
    ) -> None:
        super().__init__()
        w = dict(width_mults=width_mults)
        self.conv1 = SlimmableConv2d(in_chs, mid_chs, 1, **w)
        self.bn1 = SwitchableBatchNorm2d(mid_chs, **w)
        self.conv2 = SlimmableConv2d(mid_chs, mid_chs, 3, stride, 1, **w)
        self.bn2 = SwitchableBatchNorm2d(mid_chs, **w)
        self.conv3 = SlimmableConv2d(mid_chs, out_chs, 1, **w)
        self.bn3 = SwitchableBatchNorm2d(out_chs, **w)
        self.act = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or max(in_chs) != max(out_chs):
            self.downsample = nn.Sequential(
                SlimmableConv2d(in_chs, out_chs, 1, stride, **w), SwitchableBatchNorm2d(out_chs, **w)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act(self.bn1(self.conv1(x)))
        x = self.act(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.act(x + shortcut)


class SlimmableResNet(SlimmableMixin, nn.Module):
    """Bottleneck ResNet with shared weights at every width of ``width_mults``; ``forward(x) -> (N, num_features)``.

    Args:
        layers: blocks per stage; channels: full bottleneck middle widths per stage; stem_width: full stem width.
        width_mults: the supported widths (one BatchNorm set each); width_mult: the starting width (the largest
            when ``None``).
    """

    def __init__(
        self,
        *,
        layers: Sequence[int] = RESNET50_LAYOUT["layers"],
        channels: Sequence[int] = RESNET50_LAYOUT["channels"],
        stem_width: int = RESNET50_LAYOUT["stem_width"],
        width_mults: Sequence[float] = DEFAULT_WIDTHS,
        width_mult: float | None = None,
        in_chans: int = 3,
        plain_name: str | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != len(channels):
            raise ValueError(f"layers {tuple(layers)} and channels {tuple(channels)} must have one entry per stage")
        self.width_mults = tuple(sorted((float(m) for m in width_mults), reverse=True))
        self.layout = dict(layers=tuple(layers), channels=tuple(channels), stem_width=int(stem_width))
        self.in_chans = in_chans
        self.plain_name = plain_name
        w = dict(width_mults=self.width_mults)
        stem = scaled(stem_width, self.width_mults)
        self.conv1 = SlimmableConv2d([in_chans] * len(stem), stem, 7, 2, 3, **w)
        self.bn1 = SwitchableBatchNorm2d(stem, **w)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_chs = stem
        for stage, (blocks, middle) in enumerate(zip(layers, channels)):
            mid_chs, out_chs = scaled(middle, self.width_mults), scaled(middle * EXPANSION, self.width_mults)
            stage_blocks = []
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                stage_blocks.append(SlimmableBottleneck(in_chs, mid_chs, out_chs, stride, self.width_mults))
                in_chs = out_chs
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.out_chs = in_chs
        self.feature_dims = tuple(in_chs)  # pooled feature width at each of width_mults
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self._init_weights()
        self.width_mult = max(self.width_mults) if width_mult is None else width_mult

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def num_features(self) -> int:
        """Feature width at the current width: ``int(4 * channels[-1] * w)``."""
        return self.out_chs[self.width_mults.index(self.width_mult)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W] -> [N, C, H / 32, W / 32]`` at the current width."""
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for stage in range(len(self.layout["layers"])):
            x = getattr(self, f"layer{stage + 1}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``[N, int(4 * channels[-1] * w)]``."""
        return self.global_pool(self.forward_features(x)).flatten(1)

    def plain_network(self, width_mult: float) -> nn.Module:
        """A fresh :class:`WidthResNet` of ``width_mult`` (no classifier) with this network's layout, built through
        timm's registry when the layout is a registered one (``plain_name``)."""
        with torch.device(self.conv1.weight.device):
            if self.plain_name is not None:
                return timm.create_model(self.plain_name, width_mult=width_mult, in_chans=self.in_chans, num_classes=0)
            return WidthResNet(width_mult=width_mult, in_chans=self.in_chans, num_classes=0, **self.layout)


class WidthResNet(ResNet):
    """vislite's timm ResNet with every channel count ``int(c * w)``, the stem and its first stage included.

    timm fixes the 7x7 stem at 64 channels; here the stem and the stages that follow it are rebuilt at
    ``int(stem_width * w)``. Only widths that keep the bottleneck rule exact (``int(4c * w) == 4 * int(c * w)``
    for every stage) are accepted, so the network equals the slimmable one's sub-network.
    """

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        block: type[nn.Module] = Bottleneck,
        layers: Sequence[int] = RESNET50_LAYOUT["layers"],
        channels: Sequence[int] = RESNET50_LAYOUT["channels"],
        stem_width: int = RESNET50_LAYOUT["stem_width"],
        in_chans: int = 3,
        zero_init_last: bool = True,
        **kwargs: Any,
    ) -> None:
        if not 0.0 < width_mult <= 1.0:
            raise ValueError(f"width_mult must be in (0, 1], got {width_mult}")
        middles = [int(c * width_mult) for c in channels]
        for full, middle in zip(channels, middles):
            if middle < 1 or int(full * EXPANSION * width_mult) != middle * EXPANSION:
                raise ValueError(
                    f"width_mult {width_mult} does not slim a {full}/{full * EXPANSION}-channel stage exactly"
                )
        stem = int(stem_width * width_mult)
        if stem < 1:
            raise ValueError(f"width_mult {width_mult} leaves no stem channel")
        super().__init__(block=block, layers=tuple(layers), channels=tuple(middles), in_chans=in_chans, **kwargs)
        self.width_mult = float(width_mult)
        if stem != 64:  # timm's stem is always 64 wide: rebuild it and the stages at the slimmed width
            self.conv1 = nn.Conv2d(in_chans, stem, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem)
            stages, stage_info = make_blocks(
                (block,) * len(layers),
                tuple(middles),
                tuple(layers),
                stem,
                act_layer=nn.ReLU,
                norm_layer=nn.BatchNorm2d,
            )
            for stage in stages:
                self.add_module(*stage)
            self.feature_info = [dict(num_chs=stem, reduction=2, module="act1"), *stage_info]
            self.init_weights(zero_init_last=zero_init_last)


def _cfg(**kwargs: Any) -> dict[str, Any]:
    defaults = {"pool_size": (7, 7), "interpolation": "bilinear", "first_conv": "conv1", "classifier": "fc"}
    return pretrained_cfg(**{**defaults, **kwargs})


default_cfgs = generate_default_cfgs(
    {
        "vislite_slim_resnet50.untrained": _cfg(),
        "test_vislite_slim_resnet.untrained": _cfg(input_size=(3, 32, 32), pool_size=(1, 1), crop_pct=1.0),
    }
)


@register_model
def vislite_slim_resnet50(pretrained: bool = False, width_mult: float = 1.0, **kwargs: Any) -> WidthResNet:
    """ResNet-50 at ``width_mult`` (every channel ``int(c * w)``); a slimmed DSPNet / S-ResNet-50 width."""
    args = dict(RESNET50_LAYOUT, block=Bottleneck, width_mult=width_mult)
    return build_model_with_cfg(WidthResNet, "vislite_slim_resnet50", pretrained, **dict(args, **kwargs))


@register_model
def test_vislite_slim_resnet(pretrained: bool = False, width_mult: float = 1.0, **kwargs: Any) -> WidthResNet:
    """The tiny bottleneck ResNet (stem 16, middles 8-16-32-64, one block a stage) at ``width_mult``."""
    args = dict(TEST_RESNET_LAYOUT, block=Bottleneck, width_mult=width_mult)
    return build_model_with_cfg(WidthResNet, "test_vislite_slim_resnet", pretrained, **dict(args, **kwargs))


@register_slimmable("resnet50")
def slimmable_resnet50(**kwargs: Any) -> SlimmableResNet:
    """Slimmable ResNet-50 (S-ResNet-50 width rule) at widths 1.0 / 0.75 / 0.5 / 0.25 unless ``width_mults``."""
    return SlimmableResNet(**dict(RESNET50_LAYOUT, plain_name="vislite_slim_resnet50", **kwargs))


@register_slimmable("test_resnet")
def slimmable_test_resnet(**kwargs: Any) -> SlimmableResNet:
    """The tiny slimmable bottleneck ResNet for tests (stem 16, middles 8-16-32-64, one block a stage)."""
    return SlimmableResNet(**dict(TEST_RESNET_LAYOUT, plain_name="test_vislite_slim_resnet", **kwargs))
