"""OSTrack's centre head: score, offset and size maps on the search grid, and the box at the best score."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (with bias), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()
    )


def branch(in_channels: int, channels: int, out_channels: int) -> nn.Sequential:
    """Four conv-BN-ReLU layers ``in -> c -> c/2 -> c/4 -> c/8`` and a 1x1 convolution to ``out_channels``."""
    widths = [in_channels, channels, channels // 2, channels // 4, channels // 8]
    layers = [conv_bn_relu(a, b) for a, b in zip(widths[:-1], widths[1:])]
    return nn.Sequential(*layers, nn.Conv2d(widths[-1], out_channels, kernel_size=1))


def clamped_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Sigmoid clamped to ``[1e-4, 1 - 1e-4]`` (keeps the focal loss finite)."""
    return x.sigmoid().clamp(min=1e-4, max=1 - 1e-4)


def decode_boxes(score: torch.Tensor, size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Boxes ``[B, 4]`` (cx, cy, w, h, normalised to the search crop) at the argmax of ``score`` ``[B, 1, g, g]``.

    ``cx = (ix + offset_x) / g``, ``cy = (iy + offset_y) / g``, ``(w, h) = size`` at that cell.
    """
    grid = score.shape[-1]
    index = score.flatten(1).argmax(dim=1)  # [B]
    iy, ix = index // grid, index % grid
    at = index[:, None, None].expand(-1, 2, 1)  # [B, 2, 1]
    wh = size.flatten(2).gather(2, at).squeeze(-1)  # [B, 2]
    off = offset.flatten(2).gather(2, at).squeeze(-1)  # [B, 2]
    centre = torch.stack([ix.to(off.dtype) + off[:, 0], iy.to(off.dtype) + off[:, 1]], dim=1) / grid
    return torch.cat([centre, wh], dim=1)  # [B, 4]


class CenterHead(nn.Module):
    """Three conv branches over the ``[B, C, g, g]`` search feature map (OSTrack ``CenterPredictor``).

    ``forward`` returns ``score_map`` ``[B, 1, g, g]`` (clamped sigmoid), ``size_map`` ``[B, 2, g, g]`` (clamped
    sigmoid: normalised w, h), ``offset_map`` ``[B, 2, g, g]`` (raw) and ``boxes`` ``[B, 4]`` (cx, cy, w, h,
    normalised) decoded at the best score. Weights are Xavier-uniform initialised.
    """

    def __init__(self, *, in_channels: int, channels: int = 256) -> None:
        super().__init__()
        self.ctr = branch(in_channels, channels, 1)
        self.offset = branch(in_channels, channels, 2)
        self.size = branch(in_channels, channels, 2)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    @property
    def halo(self) -> int:
        """Cells of context one output cell sees on each side (one per 3x3 convolution)."""
        return len(self.ctr) - 1

    def predict(self, features: torch.Tensor, window: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference: ``(boxes [B, 4] cx, cy, w, h normalised, score map [B, 1, g, g])``, the box decoded at the
        argmax of ``score * window``.

        Equal to :meth:`forward` followed by :func:`decode_boxes` on the windowed score, but the offset and size
        branches only run on the ``(2 * halo + 1)``-cell neighbourhood of the best cell, which holds that cell's
        whole receptive field (zero padding still applies exactly at the map borders).
        """
        score = clamped_sigmoid(self.ctr(features))  # [B, 1, g, g]
        response = score if window is None else score * window
        grid, halo = score.shape[-1], self.halo
        index = response.flatten(1).argmax(dim=1)  # [B]
        boxes = []
        for b in range(features.shape[0]):
            iy, ix = int(index[b]) // grid, int(index[b]) % grid
            y0, x0 = max(0, iy - halo), max(0, ix - halo)
            local = features[b : b + 1, :, y0 : iy + halo + 1, x0 : ix + halo + 1]  # [1, C, <=9, <=9]
            off = self.offset(local)[0, :, iy - y0, ix - x0]  # [2]
            wh = clamped_sigmoid(self.size(local)[0, :, iy - y0, ix - x0])  # [2]
            centre = torch.stack([ix + off[0], iy + off[1]]) / grid
            boxes.append(torch.cat([centre, wh]))
        return torch.stack(boxes), score

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        score = clamped_sigmoid(self.ctr(features))
        size = clamped_sigmoid(self.size(features))
        offset = self.offset(features)
        return {"score_map": score, "size_map": size, "offset_map": offset, "boxes": decode_boxes(score, size, offset)}
