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


def pixel_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, *, ignore_index: int = IGNORE_INDEX, avg_non_ignore: bool = False
) -> torch.Tensor:
    """mmseg's ``CrossEntropyLoss`` (``reduction="mean"``) of ``logits`` ``[B, K, H, W]`` and ``labels``
    ``[B, H, W]``: ignored pixels add 0 to the sum; the sum is divided by all ``B * H * W`` pixels
    (``avg_non_ignore=False``, mmseg's default) or by the non-ignored ones only (``True``, PyTorch's mean)."""
    per_pixel = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="none")  # [B, H, W]
    count = int((labels != ignore_index).sum()) if avg_non_ignore else labels.numel()
    return per_pixel.sum() / max(count, 1)  # every pixel ignored: 0, still connected to every parameter


class DecodeHead(nn.Module):
    """Base of the heads: subclasses implement :meth:`features`; this adds dropout, the 1x1 classifier and the
    cross-entropy loss on logits upsampled to the label size (:func:`pixel_cross_entropy`, weight 1; the
    segmentor weights an auxiliary head's loss)."""

    def __init__(
        self,
        *,
        channels: int,
        num_classes: int,
        dropout: float = 0.1,
        ignore_index: int = IGNORE_INDEX,
        avg_non_ignore: bool = False,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.avg_non_ignore = bool(avg_non_ignore)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)

    def features(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """The head's fused map ``[B, channels, h, w]``."""
        raise NotImplementedError

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Class logits ``[B, num_classes, h, w]`` at the head's output stride."""
        return self.conv_seg(self.dropout(self.features(inputs)))

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """:func:`pixel_cross_entropy` of ``logits`` resized to ``labels`` ``[B, H, W]``."""
        logits = resize(logits, labels.shape[-2:])  # [B, K, H, W]
        return pixel_cross_entropy(logits, labels, ignore_index=self.ignore_index, avg_non_ignore=self.avg_non_ignore)
