"""Surface patterns of objects and stuff regions: flat colour with shading, stripes, and scikit-image texture photos."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import skimage.data

from vislite_common.data.world.vocab import PHOTO_TEXTURES, TEXTURES

_TEXTURE_SIZE = 256  # texture photos (512 px) are halved so small objects still show several bricks / pebbles


@cache
def texture_photo(name: str) -> np.ndarray:
    """(256, 256) float32 texture ``name`` ("brick", "grass", "gravel") normalised to about [0, 1]; read-only."""
    if name not in PHOTO_TEXTURES:
        raise ValueError(f"unknown texture photo {name!r}; expected one of {list(PHOTO_TEXTURES)}")
    image = getattr(skimage.data, name)().astype(np.float32)
    image = cv2.resize(image, (_TEXTURE_SIZE, _TEXTURE_SIZE), interpolation=cv2.INTER_AREA)
    lo, hi = np.percentile(image, [2.0, 98.0])
    out = np.clip((image - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0).astype(np.float32)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Surface:
    """How to colour a region: base ``rgb``, a ``texture`` from TEXTURES and its (random) parameters."""

    rgb: tuple[int, int, int]
    texture: str = "plain"
    offset: tuple[int, int] = (0, 0)  # texture-photo offset (x, y) px
    angle: float = 0.0  # stripe and light direction, rad
    period: float = 6.0  # stripe period, px
    shading: float = 0.35  # strength of the light gradient across the object

    @staticmethod
    def sample(rng: np.random.Generator, rgb: tuple[int, int, int], texture: str) -> Surface:
        """Random texture parameters for a surface of colour ``rgb`` and kind ``texture``."""
        if texture not in TEXTURES:
            raise ValueError(f"unknown texture {texture!r}; expected one of {list(TEXTURES)}")
        return Surface(
            rgb=rgb,
            texture=texture,
            offset=(int(rng.integers(_TEXTURE_SIZE)), int(rng.integers(_TEXTURE_SIZE))),
            angle=float(rng.uniform(0.0, 2 * np.pi)),
            period=float(rng.uniform(4.0, 9.0)),
            shading=float(rng.uniform(0.15, 0.45)),
        )


def paint(
    image: np.ndarray,
    mask: np.ndarray,
    surface: Surface,
    center: tuple[float, float],
    radius: float,
) -> None:
    """Paint ``surface`` into ``image`` (H, W, 3) uint8 where ``mask`` (H, W) is set, in place.

    The pattern is anchored at ``center`` (x, y) so it moves with the object; ``radius`` scales the shading.
    """
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return
    u = xs.astype(np.float32) - np.float32(center[0])  # (P,) object-local coordinates
    v = ys.astype(np.float32) - np.float32(center[1])
    cos, sin = np.float32(np.cos(surface.angle)), np.float32(np.sin(surface.angle))
    along = u * cos + v * sin
    pattern = 1.0 - surface.shading * np.clip(along / np.float32(max(radius, 1.0)), -1.0, 1.0) * 0.5  # (P,)
    if surface.texture == "striped":
        pattern = pattern * np.where(np.sin(2 * np.pi * (u * -sin + v * cos) / surface.period) > 0, 1.0, 0.55)
    elif surface.texture in PHOTO_TEXTURES:
        tex = texture_photo(surface.texture)
        ty = (ys + (surface.offset[1] - int(round(center[1])))) % tex.shape[0]
        tx = (xs + (surface.offset[0] - int(round(center[0])))) % tex.shape[1]
        pattern = pattern * (0.5 + 0.7 * tex[ty, tx])
    colour = np.asarray(surface.rgb, dtype=np.float32)[None, :] * pattern[:, None].astype(np.float32)  # (P, 3)
    image[ys, xs] = np.clip(colour, 0, 255).astype(np.uint8)
