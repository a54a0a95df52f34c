"""Shared parts of the decode heads: conv-norm-ReLU blocks, the classifier and the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vislite_segmentation.eval.miou import IGNORE_INDEX


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """mmseg's ``ConvModule`` with BN and ReLU (no conv bias, 'same' padding)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize with ``align_corners=False`` (mmseg's default); a no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class DecodeHead(nn.Module):
    """Base of the heads: subclasses implement :meth:`features`; this adds dropout, the 1x1 classifier and the
    cross-entropy loss on logits upsampled to the label size."""

    def __init__(
        self, *, channels: int, num_classes: int, dropout: float = 0.1, ignore_index: int = IGNORE_INDEX
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The head's fused map ``[B, channels, h, w]``."""
        raise NotImplementedError

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Class logits ``[B, num_classes, h, w]`` at the head's output stride."""
        return self.conv_seg(self.dropout(self.features(inputs)))

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Pixel-mean cross-entropy of ``logits`` resized to ``labels`` ``[B, H, W]``; ignore pixels excluded."""
        logits = resize(logits, labels.shape[-2:])  # [B, K, H, W]
        valid = labels != self.ignore_index
        if not bool(valid.any()):  # every pixel ignored: a zero loss that still reaches every parameter
            return logits.sum() * 0.0
        return F.cross_entropy(logits, labels, ignore_index=self.ignore_index)
