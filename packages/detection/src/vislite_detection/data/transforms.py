"""Detection augmentation with ``torchvision.transforms.v2``: boxes, crowd boxes, clean boxes and masks follow."""

from __future__ import annotations

from collections.abc import Sequence

from torchvision.transforms import v2


def _check_sizes(scales: Sequence[int], max_size: int | None) -> None:
    if not scales or any(int(s) < 1 for s in scales):
        raise ValueError(f"scales must be positive shorter-side lengths, got {list(scales)}")
    if max_size is not None and max_size < max(scales):
        raise ValueError(f"max_size {max_size} must be >= the largest scale {max(scales)}")


def train_transforms(
    *, scales: Sequence[int], max_size: int | None, flip_prob: float = 0.5, clip_border: bool = False
) -> v2.Compose:
    """Multi-scale training: shorter side drawn from ``scales`` (longer side capped at ``max_size``), then a
    horizontal flip with probability ``flip_prob``. With ``clip_border`` every box (noisy, clean, crowd) is
    clipped to the resized image before the flip, as mmdetection's ``Resize(bbox_clip_border=True)`` does to
    all its ``bbox_fields`` (NDet's noisy and clean boxes); without, boxes stay as annotated."""
    _check_sizes(scales, max_size)
    if not 0.0 <= flip_prob <= 1.0:
        raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
    steps: list[v2.Transform] = [
        v2.RandomShortestSize(min_size=[int(s) for s in scales], max_size=max_size, antialias=True)
    ]
    if clip_border:
        steps.append(v2.ClampBoundingBoxes())
    return v2.Compose([*steps, v2.RandomHorizontalFlip(p=flip_prob)])


def eval_transforms(*, scale: int, max_size: int | None) -> v2.Compose:
    """Evaluation: shorter side resized to ``scale``, longer side capped at ``max_size``."""
    _check_sizes([scale], max_size)
    return v2.Compose([v2.RandomShortestSize(min_size=[int(scale)], max_size=max_size, antialias=True)])
