"""Building blocks of SiamFC++: conv(+BN)(+ReLU) and depth-wise cross-correlation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Module):
    """``conv`` then optional ``bn`` and ReLU (video_analyst's ``conv_bn_relu``; the names match its weights)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        kernel_size: int = 3,
        padding: int = 0,
        bn: bool = True,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=True)
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x) if self.relu is not None else x


def xcorr_depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-channel correlation of search features (B, C, Hx, Wx) with template kernels (B, C, Hz, Wz)."""
    batch, channels = kernel.shape[:2]
    if x.shape[0] != batch:
        kernel = kernel.expand(x.shape[0], -1, -1, -1)
        batch = x.shape[0]
    flat = x.reshape(1, batch * channels, x.shape[2], x.shape[3])  # (1, B*C, Hx, Wx)
    weight = kernel.reshape(batch * channels, 1, kernel.shape[2], kernel.shape[3])  # (B*C, 1, Hz, Wz)
    out = F.conv2d(flat, weight, groups=batch * channels)
    return out.reshape(batch, channels, out.shape[2], out.shape[3])  # (B, C, Ho, Wo)
