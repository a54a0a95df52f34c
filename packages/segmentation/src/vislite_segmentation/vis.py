"""Colour overlays of label maps (predictions, ground truth) on images, written as PNG."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from vislite_common.fileio import atomic_write
from vislite_segmentation.eval.miou import IGNORE_INDEX


def palette(num_classes: int, seed: int = 0) -> np.ndarray:
    """``[num_classes, 3]`` uint8 colours: a fixed set of distinct hues for the first 12, seeded random after."""
    base = np.array(
        [
            [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
            [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40],
        ],
        dtype=np.uint8,
    )  # fmt: skip
    if num_classes <= len(base):
        return base[:num_classes]
    extra = np.random.default_rng(seed).integers(0, 256, size=(num_classes - len(base), 3), dtype=np.uint8)
    return np.concatenate([base, extra])


def _numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


def colorize(label: np.ndarray | torch.Tensor, colours: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Label map ``[H, W]`` -> ``[H, W, 3]`` uint8 colours; ignored pixels black."""
    label = _numpy(label).astype(np.int64)
    if label.ndim != 2:
        raise ValueError(f"expected a label map [H, W], got shape {label.shape}")
    valid = label != ignore_index
    if valid.any() and label[valid].max() >= len(colours):
        raise ValueError(f"label {int(label[valid].max())} has no colour (palette of {len(colours)})")
    out = np.zeros((*label.shape, 3), dtype=np.uint8)
    out[valid] = colours[label[valid]]
    return out


def overlay(
    image: np.ndarray | torch.Tensor,
    label: np.ndarray | torch.Tensor,
    colours: np.ndarray,
    *,
    alpha: float = 0.5,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Blend the colours of ``label`` into ``image`` (``[H, W, 3]`` or ``[3, H, W]`` uint8); ignored pixels
    keep the image."""
    image = _numpy(image)
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = image.transpose(1, 2, 0)  # [3, H, W] -> [H, W, 3]
    label = _numpy(label)
    if image.shape[:2] != label.shape:
        raise ValueError(f"image size {image.shape[:2]} differs from label size {label.shape}")
    colour = colorize(label, colours, ignore_index).astype(np.float32)
    blend = image.astype(np.float32)
    mask = label != ignore_index
    blend[mask] = (1 - alpha) * blend[mask] + alpha * colour[mask]
    return blend.clip(0, 255).astype(np.uint8)


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Atomically write an ``[H, W, 3]`` uint8 array as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def save_comparison(
    path: str | os.PathLike,
    image: np.ndarray | torch.Tensor,
    panels: Sequence[np.ndarray | torch.Tensor],
    colours: np.ndarray,
    *,
    alpha: float = 0.5,
    gap: int = 4,
) -> np.ndarray:
    """Write ``[image | overlay of panels[0] | overlay of panels[1] | ...]`` side by side (e.g. ground truth,
    prediction) as PNG and return the strip."""
    picture = _numpy(image)
    if picture.ndim == 3 and picture.shape[0] == 3 and picture.shape[-1] != 3:
        picture = picture.transpose(1, 2, 0)
    tiles = [picture, *(overlay(picture, p, colours, alpha=alpha) for p in panels)]
    spacer = np.full((picture.shape[0], gap, 3), 255, dtype=np.uint8)
    strip = np.concatenate([t for tile in tiles for t in (tile, spacer)][:-1], axis=1)
    save_png(path, strip)
    return strip
