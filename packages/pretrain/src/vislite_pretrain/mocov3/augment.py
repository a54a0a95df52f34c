"""BYOL's asymmetric pair of augmentations, as MoCo-v3 uses them (``main_moco.py``, MAE-Lite ``ssl_transform``).

Both views: RandomResizedCrop (scale ``(0.08, 1)``), colour jitter ``(0.4, 0.4, 0.2, 0.1)`` with p 0.8, grayscale
with p 0.2, Gaussian blur with sigma in ``[0.1, 2.0]`` px, horizontal flip, ImageNet normalisation. They differ in
blur probability (1.0 / 0.1) and solarisation (none / p 0.2, pixels >= 128 inverted, PIL's default threshold).

The transforms run on decoded uint8 ``[3, H, W]`` tensors with torchvision ``transforms.v2`` (no PIL round trip),
so the :class:`~vislite_common.data.classification.ImageFolderDataset` seeding makes each pair reproducible. The
reference blurs with PIL's ``GaussianBlur(radius=sigma)``; here the kernel spans +-3 sigma of the largest sigma.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision.transforms import InterpolationMode, v2

_INTERPOLATION = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}


class ViewPair:
    """Two independent augmentations of one image: ``pair(image) -> (view1, view2)``, each ``[3, S, S]`` float."""

    needs_pil = False  # read by ImageFolderDataset: give us the decoded uint8 tensor

    def __init__(self, first: v2.Transform, second: v2.Transform, *, size: int) -> None:
        self.first, self.second, self.size = first, second, int(size)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.first(image), self.second(image)

    def __repr__(self) -> str:
        return f"ViewPair(size={self.size},\n  first={self.first},\n  second={self.second})"


def byol_view(
    size: int,
    *,
    blur_p: float,
    solarize_p: float,
    scale: Sequence[float] = (0.08, 1.0),
    color_jitter: Sequence[float] = (0.4, 0.4, 0.2, 0.1),
    color_jitter_p: float = 0.8,
    grayscale_p: float = 0.2,
    blur_sigma: Sequence[float] = (0.1, 2.0),
    solarize_threshold: int = 128,
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> v2.Compose:
    """One of BYOL's two view augmentations (uint8 ``[3, H, W]`` in, normalised float ``[3, size, size]`` out)."""
    if interpolation not in _INTERPOLATION:
        raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATION)}, got {interpolation!r}")
    if len(color_jitter) != 4:
        raise ValueError(f"color_jitter must be (brightness, contrast, saturation, hue), got {color_jitter!r}")
    low, high = (float(s) for s in blur_sigma)
    kernel = 2 * math.ceil(3 * high) + 1  # covers +-3 sigma of the widest blur
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(size, scale=tuple(scale), interpolation=_INTERPOLATION[interpolation], antialias=True),
        v2.RandomApply([v2.ColorJitter(*color_jitter)], p=color_jitter_p),
        v2.RandomGrayscale(p=grayscale_p),
        v2.RandomApply([v2.GaussianBlur(kernel, sigma=(low, high))], p=blur_p),
        v2.RandomHorizontalFlip(),
    ]
    if solarize_p > 0:
        steps.append(v2.RandomSolarize(threshold=solarize_threshold, p=solarize_p))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


def byol_view_pair(
    size: int,
    *,
    scale: Sequence[float] = (0.08, 1.0),
    blur_p: Sequence[float] = (1.0, 0.1),
    solarize_p: Sequence[float] = (0.0, 0.2),
    blur_sigma: Sequence[float] = (0.1, 2.0),
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> ViewPair:
    """BYOL's asymmetric pair at ``size`` px: view 1 always blurred, never solarised; view 2 blurred with p 0.1,
    solarised with p 0.2."""
    if len(blur_p) != 2 or len(solarize_p) != 2:
        raise ValueError(f"blur_p and solarize_p take one probability per view, got {blur_p!r}, {solarize_p!r}")
    views = [
        byol_view(
            size,
            blur_p=blur_p[i],
            solarize_p=solarize_p[i],
            scale=scale,
            blur_sigma=blur_sigma,
            interpolation=interpolation,
            mean=mean,
            std=std,
        )
        for i in range(2)
    ]
    return ViewPair(views[0], views[1], size=size)
