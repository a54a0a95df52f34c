"""Real photographic backgrounds from scikit-image's wheel (offline), cached in memory, and random crops of them."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import skimage.data

from vislite_common.data.world.vocab import BACKGROUNDS

BACKGROUND_NAMES: tuple[str, ...] = tuple(BACKGROUNDS)


@cache
def load_photo(name: str) -> np.ndarray:
    """The photo ``name`` as a read-only (H, W, 3) uint8 RGB array (grey photos are replicated to 3 channels)."""
    if name not in BACKGROUNDS:
        raise ValueError(f"unknown background photo {name!r}; expected one of {sorted(BACKGROUNDS)}")
    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skimage.data.stereo_motorcycle()
        image = left if name == "motorcycle_left" else right
    else:
        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    image.setflags(write=False)
    return image


def random_crop(
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    scale: tuple[float, float] = (0.3, 0.9),
    name: str | None = None,
) -> tuple[np.ndarray, str]:
    """A random crop of a (random or given) photo, resized to ``size`` = (W, H); returns ((H, W, 3) uint8, name).

    ``scale`` bounds the crop's height as a fraction of the largest crop of that aspect ratio the photo holds.
    The crop is flipped horizontally half of the time.
    """
    width, height = size
    if name is None:
        name = BACKGROUND_NAMES[int(rng.integers(len(BACKGROUND_NAMES)))]
    photo = load_photo(name)
    ph, pw = photo.shape[:2]
    max_h = min(ph, pw * height / width)
    crop_h = max(2, int(round(max_h * rng.uniform(*scale))))
    crop_w = max(2, min(pw, int(round(crop_h * width / height))))
    y0 = int(rng.integers(0, ph - crop_h + 1))
    x0 = int(rng.integers(0, pw - crop_w + 1))
    crop = photo[y0 : y0 + crop_h, x0 : x0 + crop_w]
    interpolation = cv2.INTER_AREA if crop_w >= width else cv2.INTER_LINEAR
    out = cv2.resize(crop, (width, height), interpolation=interpolation)  # (H, W, 3)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out), name
