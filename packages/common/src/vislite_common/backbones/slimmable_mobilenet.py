"""Slimmable MobileNetV2 (S-MobileNetV2 of Yu et al. 2019) and the ordinary MobileNetV2 of one width.

Width rule (slimmable networks, torchvision): every channel count is ``make_divisible(c * w, 8)``; an inverted
residual expands to ``t x`` its (already rounded) input; the stem is 3x3/2 with 32 channels, the blocks follow the
MobileNetV2 table (t, c, n, s), the 1x1 head keeps 1280 channels at every width. Output: the globally
average-pooled ``(N, 1280)`` feature, no classifier.

Unlike the reference S-MobileNetV2, whose head BatchNorm is one plain BatchNorm shared by every width, every
BatchNorm here is switchable (one per width), so each width keeps its own statistics and slims to a network with
exactly one BatchNorm set. Keys: ``stem.conv``, ``stem.bn``, ``blocks.<i>.conv_pw / bn1 / conv_dw / bn2 /
conv_pwl / bn3`` (no ``conv_pw`` when t = 1), ``head.conv``, ``head.bn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from vislite_common.backbones.slimmable import DEFAULT_WIDTHS, SlimmableMixin, make_divisible, register_slimmable
from vislite_common.backbones.slimmable_ops import SlimmableConv2d, SwitchableBatchNorm2d

MOBILENETV2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""MobileNetV2's inverted-residual table: expansion t, output channels c, blocks n, first stride s."""
TEST_MOBILENETV2: dict[str, Any] = dict(
    settings=((1, 32, 1, 1), (6, 32, 1, 2), (6, 64, 1, 2)), stem_width=32, head_width=256
)
"""The tiny test variant (every layer at least 8 channels at width 0.25)."""


class _Ops:
    """Builds a layer for per-width channel lists: slimmable / switchable, or ordinary for a single width."""

    def __init__(self, width_mults: Sequence[float], switchable: bool) -> None:
        self.width_mults, self.switchable = tuple(width_mults), switchable

    def conv(
        self, ins: list[int], outs: list[int], kernel: int, stride: int = 1, *, depthwise: bool = False
    ) -> nn.Module:
        if self.switchable:
            return SlimmableConv2d(
                ins, outs, kernel, stride, kernel // 2, width_mults=self.width_mults, depthwise=depthwise
            )
        return nn.Conv2d(ins[0], outs[0], kernel, stride, kernel // 2, groups=ins[0] if depthwise else 1, bias=False)

    def bn(self, chs: list[int]) -> nn.Module:
        return SwitchableBatchNorm2d(chs, width_mults=self.width_mults) if self.switchable else nn.BatchNorm2d(chs[0])


class InvertedResidual(nn.Module):
    """(1x1 expand) -> 3x3 depthwise (stride) -> 1x1 project, ReLU6, identity shortcut when shapes allow."""

    def __init__(self, ops: _Ops, ins: list[int], outs: list[int], stride: int, expand: int) -> None:
        super().__init__()
        hidden = [c * expand for c in ins]
        self.use_shortcut = stride == 1 and ins == outs
        if expand != 1:
            self.conv_pw, self.bn1 = ops.conv(ins, hidden, 1), ops.bn(hidden)
        self.conv_dw, self.bn2 = ops.conv(hidden, hidden, 3, stride, depthwise=True), ops.bn(hidden)
        self.conv_pwl, self.bn3 = ops.conv(hidden, outs, 1), ops.bn(outs)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv_pw(x))) if hasattr(self, "conv_pw") else x
        out = self.bn3(self.conv_pwl(self.act(self.bn2(self.conv_dw(out)))))
        return out + x if self.use_shortcut else out


class _MobileNetV2Layout(nn.Module):
    """MobileNetV2 body for a list of widths; ``forward(x) -> (N, head_width)``."""

    def __init__(
        self,
        *,
        width_mults: Sequence[float],
        switchable: bool,
        settings: Sequence[Sequence[int]] = MOBILENETV2_SETTINGS,
        stem_width: int = 32,
        head_width: int = 1280,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        ops = _Ops(width_mults, switchable)
        self.layout = dict(settings=tuple(tuple(s) for s in settings), stem_width=stem_width, head_width=head_width)
        self.in_chans = in_chans
        chs = [make_divisible(stem_width * w) for w in width_mults]
        self.stem = nn.Sequential()
        self.stem.add_module("conv", ops.conv([in_chans] * len(chs), chs, 3, 2))
        self.stem.add_module("bn", ops.bn(chs))
        self.stem.add_module("act", nn.ReLU6(inplace=True))
        blocks = []
        for expand, channels, repeats, first_stride in settings:
            outs = [make_divisible(channels * w) for w in width_mults]
            for index in range(repeats):
                blocks.append(InvertedResidual(ops, chs, outs, first_stride if index == 0 else 1, expand))
                chs = outs
        self.blocks = nn.Sequential(*blocks)
        head = [max(head_width, make_divisible(head_width * w)) for w in width_mults]
        self.head = nn.Sequential()
        self.head.add_module("conv", ops.conv(chs, head, 1))
        self.head.add_module("bn", ops.bn(head))
        self.head.add_module("act", nn.ReLU6(inplace=True))
        self.num_features = max(head)
        self.feature_dims = tuple(head)  # pooled feature width at each of width_mults
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W] -> [N, head_width, H / 32, W / 32]``."""
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``[N, head_width]``."""
        return self.global_pool(self.forward_features(x)).flatten(1)


class MobileNetV2(_MobileNetV2Layout):
    """An ordinary MobileNetV2 backbone of one width (plain convolutions and BatchNorms)."""

    def __init__(self, *, width_mult: float = 1.0, **kwargs: Any) -> None:
        if not 0.0 < width_mult <= 1.0:
            raise ValueError(f"width_mult must be in (0, 1], got {width_mult}")
        super().__init__(width_mults=(float(width_mult),), switchable=False, **kwargs)
        self.width_mult = float(width_mult)


class SlimmableMobileNetV2(SlimmableMixin, _MobileNetV2Layout):
    """MobileNetV2 with shared weights at every width of ``width_mults`` (one BatchNorm set per width)."""

    def __init__(
        self, *, width_mults: Sequence[float] = DEFAULT_WIDTHS, width_mult: float | None = None, **kwargs: Any
    ) -> None:
        widths = tuple(sorted((float(m) for m in width_mults), reverse=True))
        super().__init__(width_mults=widths, switchable=True, **kwargs)
        self.width_mults = widths
        self.width_mult = max(widths) if width_mult is None else width_mult

    def plain_network(self, width_mult: float) -> nn.Module:
        """A fresh :class:`MobileNetV2` of ``width_mult`` with this network's layout."""
        with torch.device(self.stem.conv.weight.device):
            return MobileNetV2(width_mult=width_mult, in_chans=self.in_chans, **self.layout)


@register_slimmable("mobilenetv2")
def slimmable_mobilenetv2(**kwargs: Any) -> SlimmableMobileNetV2:
    """Slimmable MobileNetV2 at widths 1.0 / 0.75 / 0.5 / 0.25 unless ``width_mults``."""
    return SlimmableMobileNetV2(**kwargs)


@register_slimmable("test_mobilenetv2")
def slimmable_test_mobilenetv2(**kwargs: Any) -> SlimmableMobileNetV2:
    """The tiny slimmable MobileNetV2 for tests (three blocks, head 256)."""
    return SlimmableMobileNetV2(**dict(TEST_MOBILENETV2, **kwargs))
