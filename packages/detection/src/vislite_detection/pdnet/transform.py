"""Caffe-style input (maskrcnn-benchmark's ``TO_BGR255``): BGR, 0-255, mean subtracted, std 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vislite_detection.models.transform import DetectionTransform

CAFFE_MEAN_BGR = (102.9801, 115.9465, 122.7717)
"""``INPUT.PIXEL_MEAN`` of PDNet's configs (BGR order, 0-255); ``PIXEL_STD`` is 1."""


class CaffeTransform(DetectionTransform):
    """:class:`DetectionTransform` whose normalisation is Caffe's: RGB [0, 1] -> BGR x 255 - ``mean_bgr``.

    The weights PDNet starts from (MSRA / FAIR ImageNet models) expect this input; resizing and padding are
    unchanged (pad to a multiple of 32).
    """

    def __init__(
        self,
        *,
        min_size: int | Sequence[int] | None = None,
        max_size: int | None = None,
        mean_bgr: Sequence[float] = CAFFE_MEAN_BGR,
        size_divisible: int = 32,
    ) -> None:
        super().__init__(min_size=min_size, max_size=max_size, size_divisible=size_divisible)
        if len(mean_bgr) != 3:
            raise ValueError(f"mean_bgr must have 3 values (B, G, R), got {list(mean_bgr)}")
        self.mean_bgr = tuple(float(m) for m in mean_bgr)

    def normalize(self, image: Tensor) -> Tensor:
        if not image.is_floating_point():
            raise TypeError(f"expected a float image in [0, 1], got {image.dtype}")
        if image.shape[0] != 3:
            raise ValueError(f"Caffe-style input needs 3-channel RGB images, got {image.shape[0]} channels")
        mean = torch.as_tensor(self.mean_bgr, dtype=image.dtype, device=image.device)
        return image.flip(0) * 255.0 - mean[:, None, None]  # [3, H, W] BGR
