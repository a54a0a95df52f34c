"""Training and evaluation transforms of mmseg's ADE20K pipeline, on ``(uint8 [3, H, W], int64 [H, W])`` pairs.

Training: ``RandomResize`` of ``scale`` with a ratio in ``ratio_range`` (keep ratio), ``RandomCrop`` with the
category-max-ratio rule, horizontal flip, photometric distortion, normalisation, padding to the crop size
(image 0 after normalisation, label ``ignore_index``). Evaluation: keep-ratio resize of the image only (the
label stays at its original size; predictions are resized back to it) and normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from vislite_segmentation.data.photometric import PhotoMetricDistortion
from vislite_segmentation.eval.miou import IGNORE_INDEX

ADE_MEAN = (123.675, 116.28, 103.53)
ADE_STD = (58.395, 57.12, 57.375)
CROP_TRIES = 10


def keep_ratio_size(height: int, width: int, scale: Sequence[int]) -> tuple[int, int]:
    """mmcv's ``rescale_size``: the largest size with the image's aspect ratio whose long side is at most
    ``max(scale)`` and short side at most ``min(scale)``."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def resize_pair(
    image: torch.Tensor, label: torch.Tensor | None, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Bilinear image (no antialiasing, as OpenCV) and nearest-neighbour label resize to ``size`` (h, w)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image, label
    image = TF.resize(image, list(size), interpolation=InterpolationMode.BILINEAR, antialias=False)
    if label is not None:
        label = TF.resize(label[None], list(size), interpolation=InterpolationMode.NEAREST)[0]
    return image, label


def normalize(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``[3, H, W]`` -> float ``(image - mean) / std`` with mean / std in 0-255 units."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (image.float() - mean_t) / std_t


class SegTrainTransform:
    """The training pipeline (see the module docstring); random numbers come from torch's generator."""

    def __init__(
        self,
        *,
        scale: Sequence[int] = (2048, 512),
        ratio_range: Sequence[float] = (0.5, 2.0),
        crop_size: int = 512,
        cat_max_ratio: float = 0.75,
        flip_prob: float = 0.5,
        photometric: bool = True,
        brightness_delta: int = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: int = 18,
        mean: Sequence[float] = ADE_MEAN,
        std: Sequence[float] = ADE_STD,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        if len(scale) != 2 or len(ratio_range) != 2:
            raise ValueError(f"scale and ratio_range must be pairs, got {list(scale)} and {list(ratio_range)}")
        self.scale, self.ratio_range = tuple(int(s) for s in scale), tuple(float(r) for r in ratio_range)
        self.crop_size, self.cat_max_ratio = int(crop_size), float(cat_max_ratio)
        self.flip_prob, self.ignore_index = float(flip_prob), int(ignore_index)
        self.mean, self.std = tuple(mean), tuple(std)
        self.distort = (
            PhotoMetricDistortion(
                brightness_delta=int(brightness_delta),
                contrast_range=(float(contrast_range[0]), float(contrast_range[1])),
                saturation_range=(float(saturation_range[0]), float(saturation_range[1])),
                hue_delta=int(hue_delta),
            )
            if photometric
            else None
        )

    def sample_ratio(self) -> float:
        """A ratio drawn uniformly from ``ratio_range`` (mmcv's ``RandomResize._random_sample_ratio``)."""
        return float(torch.empty(()).uniform_(*self.ratio_range))

    def sample_size(self, height: int, width: int) -> tuple[int, int]:
        """The random resize's output size: ``scale`` times a sampled ratio (each side truncated to int), then
        mmcv's keep-ratio rule (:func:`keep_ratio_size`)."""
        ratio = self.sample_ratio()
        return keep_ratio_size(height, width, (int(self.scale[0] * ratio), int(self.scale[1] * ratio)))

    def random_resize(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image`` and ``label`` resized to :meth:`sample_size` (bilinear / nearest)."""
        image, label = resize_pair(image, label, self.sample_size(image.shape[-2], image.shape[-1]))
        return image, label

    def _random_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        top = int(torch.randint(0, max(height - self.crop_size, 0) + 1, ()))
        left = int(torch.randint(0, max(width - self.crop_size, 0) + 1, ()))
        return top, min(top + self.crop_size, height), left, min(left + self.crop_size, width)

    def crop_box(self, label: torch.Tensor) -> tuple[int, int, int, int]:
        """A random crop box; with ``cat_max_ratio < 1`` up to 10 draws until the crop holds more than one
        class and no class covers ``cat_max_ratio`` of its labelled pixels (mmseg's rule)."""
        box = self._random_box(*label.shape)
        if self.cat_max_ratio >= 1.0:
            return box
        for _ in range(CROP_TRIES):
            y1, y2, x1, x2 = box
            values = label[y1:y2, x1:x2]
            counts = torch.bincount(values[values != self.ignore_index].flatten())
            counts = counts[counts > 0]
            if len(counts) > 1 and counts.max().item() / counts.sum().item() < self.cat_max_ratio:
                break
            box = self._random_box(*label.shape)
        return box

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(uint8 [3, H, W], int64 [H, W])`` -> ``(float [3, c, c], int64 [c, c])``."""
        image, label = self.random_resize(image, label)
        y1, y2, x1, x2 = self.crop_box(label)
        image, label = image[:, y1:y2, x1:x2], label[y1:y2, x1:x2]
        if float(torch.rand(())) < self.flip_prob:
            image, label = image.flip(-1), label.flip(-1)
        if self.distort is not None:
            hwc = np.ascontiguousarray(image.permute(1, 2, 0).numpy())  # [h, w, 3]
            image = torch.from_numpy(self.distort(hwc)).permute(2, 0, 1)  # [3, h, w]
        image = normalize(image, self.mean, self.std)
        pad_h, pad_w = self.crop_size - image.shape[-2], self.crop_size - image.shape[-1]
        if pad_h > 0 or pad_w > 0:
            image = F.pad(image, (0, max(pad_w, 0), 0, max(pad_h, 0)), value=0.0)
            label = F.pad(label, (0, max(pad_w, 0), 0, max(pad_h, 0)), value=self.ignore_index)
        return image, label


class SegEvalTransform:
    """Keep-ratio resize of the image to ``scale`` (None keeps the size) and normalisation; the label is kept."""

    def __init__(
        self,
        *,
        scale: Sequence[int] | None = (2048, 512),
        mean: Sequence[float] = ADE_MEAN,
        std: Sequence[float] = ADE_STD,
    ) -> None:
        self.scale = None if scale is None else tuple(int(s) for s in scale)
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale is not None:
            image, _ = resize_pair(image, None, keep_ratio_size(image.shape[-2], image.shape[-1], self.scale))
        return normalize(image, self.mean, self.std), label
