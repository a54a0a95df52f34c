"""Whole-image and sliding-window inference (mmseg's ``slide`` mode), with optional horizontal-flip averaging.

:func:`slide_inference` cuts the image into ``crop``-sized windows every ``stride`` pixels (the last window of a
row or column is shifted back to end at the border), runs the crops through the model in batches of
``crop_batch``, and averages the per-pixel logits over the windows covering each pixel. Logits of each crop are
taken at the crop's size, exactly as mmseg does, so batching changes nothing but speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Model = Callable[[torch.Tensor], torch.Tensor]
"""Images ``[B, 3, h, w]`` -> logits ``[B, K, h, w]``."""


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ValueError(f"expected an int or an (h, w) pair, got {value!r}")
    return int(value[0]), int(value[1])


def window_starts(size: int, crop: int, stride: int) -> list[int]:
    """Start offsets of the windows along one side (mmseg: ``max(size - crop + stride - 1, 0) // stride + 1``
    windows, the last one moved back so it ends at ``size``; a side shorter than ``crop`` gets one window)."""
    if crop < 1 or stride < 1:
        raise ValueError(f"crop and stride must be >= 1, got crop={crop}, stride={stride}")
    count = max(size - crop + stride - 1, 0) // stride + 1
    return [max(min(i * stride + crop, size) - crop, 0) for i in range(count)]


def windows(height: int, width: int, crop: tuple[int, int], stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """``(y1, y2, x1, x2)`` of every window over an ``height x width`` image, row-major."""
    return [
        (y, min(y + crop[0], height), x, min(x + crop[1], width))
        for y in window_starts(height, crop[0], stride[0])
        for x in window_starts(width, crop[1], stride[1])
    ]


@torch.inference_mode()
def slide_inference(
    model: Model,
    images: torch.Tensor,
    *,
    num_classes: int,
    crop: int | tuple[int, int] = 512,
    stride: int | tuple[int, int] = 341,
    crop_batch: int = 8,
    size_divisor: int = 1,
) -> torch.Tensor:
    """Logits ``[B, K, H, W]`` of ``images`` ``[B, 3, H, W]`` averaged over overlapping windows (a window
    whose sides are not multiples of ``size_divisor``, e.g. on an image smaller than ``crop``, is zero-padded)."""
    crop, stride = _pair(crop), _pair(stride)
    batch, _, height, width = images.shape
    boxes = windows(height, width, crop, stride)
    logits = images.new_zeros((batch, num_classes, height, width), dtype=torch.float32)
    logits = logits.contiguous(memory_format=torch.channels_last)  # matches the segmentor's output layout
    count = images.new_zeros((1, 1, height, width), dtype=torch.float32)
    for start in range(0, len(boxes), crop_batch):
        chunk = boxes[start : start + crop_batch]
        same_size = len({(y2 - y1, x2 - x1) for y1, y2, x1, x2 in chunk}) == 1
        if same_size:  # one forward pass for the whole chunk: [n * B, 3, h, w]
            crops = torch.cat([images[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in chunk])
            outs = _padded_logits(model, crops, size_divisor).split(batch)
        else:
            outs = [_padded_logits(model, images[:, :, y1:y2, x1:x2], size_divisor) for y1, y2, x1, x2 in chunk]
        for (y1, y2, x1, x2), out in zip(chunk, outs):
            logits[:, :, y1:y2, x1:x2] += out
            count[:, :, y1:y2, x1:x2] += 1
    return logits.div_(count)  # in place: no second [B, K, H, W] buffer


def _padded_logits(model: Model, images: torch.Tensor, size_divisor: int) -> torch.Tensor:
    """fp32 logits of ``images`` zero-padded (bottom/right) to multiples of ``size_divisor``, padding cropped."""
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % size_divisor, (-width) % size_divisor
    padded = F.pad(images, (0, pad_w, 0, pad_h)) if pad_h or pad_w else images
    return model(padded).float()[:, :, :height, :width]


@torch.inference_mode()
def whole_inference(model: Model, images: torch.Tensor, *, size_divisor: int = 1) -> torch.Tensor:
    """Logits of the whole image in one pass (padded to multiples of ``size_divisor``, as in slide mode)."""
    return _padded_logits(model, images, size_divisor)


@dataclass(frozen=True)
class Inferencer:
    """Inference settings of a segmentor: ``mode`` "whole" or "slide" (crop / stride in pixels), optional flip
    averaging. ``crop_batch`` crops go through the model together in slide mode."""

    mode: str = "whole"
    crop: int = 512
    stride: int = 341
    flip: bool = False
    crop_batch: int = 8
    size_divisor: int = 16

    def __post_init__(self) -> None:
        if self.mode not in ("whole", "slide"):
            raise ValueError(f"inference mode must be 'whole' or 'slide', got {self.mode!r}")

    def _once(self, model: Model, images: torch.Tensor, num_classes: int) -> torch.Tensor:
        if self.mode == "slide":
            return slide_inference(
                model,
                images,
                num_classes=num_classes,
                crop=self.crop,
                stride=self.stride,
                crop_batch=self.crop_batch,
                size_divisor=self.size_divisor,
            )
        return whole_inference(model, images, size_divisor=self.size_divisor)

    def __call__(self, model: Model, images: torch.Tensor, num_classes: int) -> torch.Tensor:
        """Logits ``[B, K, H, W]``; with ``flip``, the mean of the image's and its mirror's (mirrored back)."""
        logits = self._once(model, images, num_classes)
        if self.flip:
            logits = (logits + self._once(model, images.flip(-1), num_classes).flip(-1)) / 2
        return logits
