"""Inference-only centre head: BatchNorms folded into the convolutions, offset / size at the best cell only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vislite_tracking.ostrack.model.head import CenterHead, clamped_sigmoid


@dataclass(frozen=True)
class FoldedConv:
    """A convolution (stride 1, square kernel) with its BatchNorm folded in, optionally followed by ReLU."""

    weight: torch.Tensor  # [out, in, k, k]
    bias: torch.Tensor  # [out]
    relu: bool

    def __call__(self, x: torch.Tensor, padding: int) -> torch.Tensor:
        y = F.conv2d(x, self.weight, self.bias, padding=padding)
        return F.relu(y) if self.relu else y


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight, bias)`` of one convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode (running stats).

    ``w' = w * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.
    """
    weight = conv.weight.detach()
    bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    if bn is None:
        return weight.clone(), bias.clone()
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics (track_running_stats=False)")
    scale = bn.running_var.detach().add(bn.eps).rsqrt()  # [out]
    if bn.weight is not None:
        scale = scale * bn.weight.detach()
    shift = bn.bias.detach() if bn.bias is not None else torch.zeros_like(scale)
    return weight * scale.view(-1, 1, 1, 1), (bias - bn.running_mean.detach()) * scale + shift


def fold_branch(branch: nn.Sequential) -> list[FoldedConv]:
    """A head branch (``[Conv-BN-ReLU] * n, Conv1x1``) as a list of folded convolutions."""
    layers: list[FoldedConv] = []
    for layer in branch:
        if isinstance(layer, nn.Conv2d):
            layers.append(FoldedConv(*fold_conv_bn(layer, None), relu=False))
            continue
        conv, bn, act = layer[0], layer[1], layer[2]
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and isinstance(act, nn.ReLU)):
            raise ValueError(f"expected Conv2d-BatchNorm2d-ReLU in the head branch, got {layer}")
        if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError(f"only stride-1, undilated, ungrouped head convolutions can be folded, got {conv}")
        layers.append(FoldedConv(*fold_conv_bn(conv, bn), relu=True))
    return layers


def _span(centre: int, radius: int, size: int) -> tuple[int, int, int, int]:
    """``(lo, hi, pad_before, pad_after)``: the cells ``centre +- radius`` inside ``[0, size)`` and how far the
    full span leaves the map on each side."""
    lo, hi = centre - radius, centre + radius + 1
    return max(lo, 0), min(hi, size), max(-lo, 0), max(hi - size, 0)


def _zero_outside(maps: torch.Tensor, iy: int, ix: int, radius: int, grid: int) -> None:
    """Zero, in place, the cells of ``maps`` ``[1, C, 2r+1, 2r+1]`` (centred on ``(iy, ix)``) outside the map."""
    _, _, top, bottom = _span(iy, radius, grid)
    _, _, left, right = _span(ix, radius, grid)
    side = 2 * radius + 1
    maps[:, :, :top].zero_()
    maps[:, :, side - bottom :].zero_()
    maps[:, :, :, :left].zero_()
    maps[:, :, :, side - right :].zero_()


class FoldedCenterHead:
    """:meth:`CenterHead.predict` for inference, from a :class:`CenterHead` in eval mode.

    The score branch runs over the whole map with its BatchNorms folded into the convolutions. The offset and
    size branches run only on the cells the best cell depends on: the first 3x3 layer on the 7x7 cells around
    it, the next on 5x5, then 3x3, then the cell itself (the first layers of both branches as one convolution).
    Zero padding is applied exactly where those neighbourhoods leave the map, so the numbers equal the full
    maps' up to float rounding.
    """

    def __init__(self, *, head: CenterHead) -> None:
        if head.training:
            raise ValueError("fold the head in eval mode (BatchNorm running statistics)")
        self.ctr = fold_branch(head.ctr)
        offset, size = fold_branch(head.offset), fold_branch(head.size)
        kernels = [layer.weight.shape[-1] for layer in offset]
        if kernels != [layer.weight.shape[-1] for layer in size] or kernels[-1] != 1 or set(kernels[:-1]) != {3}:
            raise ValueError(f"offset and size branches must be 3x3 convolutions then a 1x1, got kernels {kernels}")
        self.first = FoldedConv(
            torch.cat([offset[0].weight, size[0].weight]), torch.cat([offset[0].bias, size[0].bias]), relu=True
        )
        self.split = int(offset[0].weight.shape[0])
        self.offset, self.size = offset[1:], size[1:]
        self.halo = len(kernels) - 1  # 3x3 layers: cells of context on each side

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Clamped-sigmoid centre score ``[B, 1, g, g]`` of features ``[B, C, g, g]``."""
        x = features
        for layer in self.ctr:
            x = layer(x, padding=layer.weight.shape[-1] // 2)
        return clamped_sigmoid(x)

    def _at_cell(self, features: torch.Tensor, iy: int, ix: int) -> torch.Tensor:
        """``(offset_x, offset_y, w, h)`` at cell ``(iy, ix)`` of features ``[1, C, g, g]``."""
        grid = features.shape[-1]
        ylo, yhi, top, bottom = _span(iy, self.halo, grid)
        xlo, xhi, left, right = _span(ix, self.halo, grid)
        local = F.pad(features[:, :, ylo:yhi, xlo:xhi], (left, right, top, bottom))  # [1, C, 2h+1, 2h+1]
        both = self.first(local, padding=0)  # [1, c_off + c_size, 2h-1, 2h-1]
        off, wh = both[:, : self.split], both[:, self.split :]
        radius = self.halo - 1  # of the span the current maps cover, centred on the cell
        for layer_off, layer_wh in zip(self.offset, self.size):
            if layer_off.weight.shape[-1] == 3:
                _zero_outside(off, iy, ix, radius, grid)  # the full map's zero padding at its border
                _zero_outside(wh, iy, ix, radius, grid)
                radius -= 1
            off, wh = layer_off(off, padding=0), layer_wh(wh, padding=0)
        return torch.cat([off[0, :, 0, 0], clamped_sigmoid(wh[0, :, 0, 0])])  # [4]

    def predict(self, features: torch.Tensor, window: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(boxes [B, 4] cx, cy, w, h normalised, score map [B, 1, g, g])``, as :meth:`CenterHead.predict`."""
        score = self.score(features)
        response = score if window is None else score * window
        grid = score.shape[-1]
        index = response.flatten(1).argmax(dim=1).tolist()  # [B]
        boxes = []
        for b, cell in enumerate(index):
            iy, ix = divmod(cell, grid)
            out = self._at_cell(features[b : b + 1], iy, ix)  # [4]
            centre = torch.stack([ix + out[0], iy + out[1]]) / grid
            boxes.append(torch.cat([centre, out[2:]]))
        return torch.stack(boxes), score
