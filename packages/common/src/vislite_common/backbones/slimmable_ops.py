"""Slimmable layers (Yu et al., "Slimmable Neural Networks", ICLR 2019): one full-size weight, a width index.

Each layer knows its channel counts at every supported width (``in_channels_list`` / ``out_channels_list``, one
entry per width, in the order of ``width_mults``) and runs at the width in its ``width_mult`` attribute:

* :class:`SlimmableConv2d` / :class:`SlimmableLinear` store the largest weight and use its leading
  ``[:out_i, :in_i]`` slice at width ``i`` (a depthwise convolution slices its groups the same way);
* :class:`SwitchableBatchNorm2d` / :class:`SwitchableBatchNorm1d` keep a private ``BatchNorm`` per width
  (``bn.<i>``), so every width has its own statistics and affine parameters.

The width is set on every layer at once by the owning network (:class:`~vislite_common.backbones.slimmable.
SlimmableMixin`), or by ``model.apply(lambda m: setattr(m, "width_mult", w))`` as in the reference code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def width_index(width_mults: Sequence[float], width_mult: float, *, where: str = "model") -> int:
    """Position of ``width_mult`` in ``width_mults`` (within 1e-9), or a ``ValueError`` naming the supported widths."""
    for index, supported in enumerate(width_mults):
        if abs(float(supported) - float(width_mult)) < 1e-9:
            return index
    raise ValueError(
        f"unsupported width_mult {width_mult!r} for {where}; supported widths: {', '.join(map(str, width_mults))}"
    )


class _WidthSwitch:
    """Shared width bookkeeping: ``width_mults`` (supported), ``width_mult`` (current) and its index."""

    width_mults: tuple[float, ...]
    width_mult: float

    def _init_widths(self, width_mults: Sequence[float], lists: Sequence[Sequence[int]]) -> None:
        self.width_mults = tuple(float(w) for w in width_mults)
        if not self.width_mults:
            raise ValueError("width_mults must list at least one width")
        for values in lists:
            if len(values) != len(self.width_mults):
                raise ValueError(f"channel list {list(values)} must have one entry per width {self.width_mults}")
        self.width_mult = max(self.width_mults)

    @property
    def width_idx(self) -> int:
        return width_index(self.width_mults, self.width_mult, where=type(self).__name__)


class SlimmableConv2d(_WidthSwitch, nn.Conv2d):
    """``nn.Conv2d`` at the largest width; at width ``i`` it convolves with ``weight[:out_i, :in_i // groups_i]``.

    ``depthwise=True`` makes ``groups`` follow the input channels at every width (``groups_i = in_i``).
    """

    def __init__(
        self,
        in_channels_list: Sequence[int],
        out_channels_list: Sequence[int],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        width_mults: Sequence[float],
        depthwise: bool = False,
        bias: bool = False,
    ) -> None:
        in_max, out_max = max(in_channels_list), max(out_channels_list)
        super().__init__(in_max, out_max, kernel_size, stride, padding, groups=in_max if depthwise else 1, bias=bias)
        self._init_widths(width_mults, [in_channels_list, out_channels_list])
        self.in_channels_list = tuple(int(c) for c in in_channels_list)
        self.out_channels_list = tuple(int(c) for c in out_channels_list)
        self.depthwise = depthwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = self.width_idx
        in_c, out_c = self.in_channels_list[idx], self.out_channels_list[idx]
        if x.shape[1] != in_c:
            raise ValueError(
                f"{type(self).__name__} at width {self.width_mult} expects {in_c} channels, got {x.shape[1]}"
            )
        groups = in_c if self.depthwise else 1
        weight = self.weight[:out_c, : in_c // groups]  # leading slice [out_c, in_c / groups, k, k]
        bias = None if self.bias is None else self.bias[:out_c]
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)

    def plain(self) -> nn.Conv2d:
        """An ordinary ``nn.Conv2d`` holding a copy of the current width's weight slice."""
        idx = self.width_idx
        in_c, out_c = self.in_channels_list[idx], self.out_channels_list[idx]
        groups = in_c if self.depthwise else 1
        conv = nn.Conv2d(
            in_c, out_c, self.kernel_size, self.stride, self.padding, groups=groups, bias=self.bias is not None
        )
        conv = conv.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.weight[:out_c, : in_c // groups])
            if self.bias is not None:
                conv.bias.copy_(self.bias[:out_c])
        return conv


class SlimmableLinear(_WidthSwitch, nn.Linear):
    """``nn.Linear`` at the largest width; at width ``i`` it uses ``weight[:out_i, :in_i]``."""

    def __init__(
        self,
        in_features_list: Sequence[int],
        out_features_list: Sequence[int],
        *,
        width_mults: Sequence[float],
        bias: bool = True,
    ) -> None:
        super().__init__(max(in_features_list), max(out_features_list), bias=bias)
        self._init_widths(width_mults, [in_features_list, out_features_list])
        self.in_features_list = tuple(int(c) for c in in_features_list)
        self.out_features_list = tuple(int(c) for c in out_features_list)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = self.width_idx
        in_f, out_f = self.in_features_list[idx], self.out_features_list[idx]
        if x.shape[-1] != in_f:
            raise ValueError(
                f"{type(self).__name__} at width {self.width_mult} expects {in_f} features, got {x.shape[-1]}"
            )
        bias = None if self.bias is None else self.bias[:out_f]
        return F.linear(x, self.weight[:out_f, :in_f], bias)


class _SwitchableBatchNorm(_WidthSwitch, nn.Module):
    _norm: type[nn.modules.batchnorm._BatchNorm]

    def __init__(self, num_features_list: Sequence[int], *, width_mults: Sequence[float]) -> None:
        super().__init__()
        self._init_widths(width_mults, [num_features_list])
        self.num_features_list = tuple(int(c) for c in num_features_list)
        self.bn = nn.ModuleList(self._norm(c) for c in self.num_features_list)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn[self.width_idx](x)

    def plain(self) -> nn.modules.batchnorm._BatchNorm:
        """A copy of the current width's own BatchNorm (weights and running statistics)."""
        import copy

        return copy.deepcopy(self.bn[self.width_idx])


class SwitchableBatchNorm2d(_SwitchableBatchNorm):
    """One ``nn.BatchNorm2d`` per width (``bn.<i>``), chosen by the current width."""

    _norm = nn.BatchNorm2d


class SwitchableBatchNorm1d(_SwitchableBatchNorm):
    """One ``nn.BatchNorm1d`` per width (``bn.<i>``), chosen by the current width."""

    _norm = nn.BatchNorm1d
