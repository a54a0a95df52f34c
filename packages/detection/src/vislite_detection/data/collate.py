"""Batching for detectors: images of different sizes stay a list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def collate_detection(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict]]:
    """``[(image, target), ...]`` -> ``(images, targets)`` lists, as torchvision detection models take them."""
    images = [image for image, _ in batch]
    targets = [target for _, target in batch]
    return images, targets
