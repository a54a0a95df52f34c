"""Stuff regions for semantic segmentation: textured ground bands, walls and blobs (brick, grass, gravel)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vislite_common.data.world.shapes import Geometry, rasterize
from vislite_common.data.world.textures import Surface, paint
from vislite_common.data.world.vocab import STUFF


@dataclass(frozen=True)
class StuffRegion:
    """A region of stuff class ``name`` bounded by ``polygon`` (N, 2) (x, y) px, coloured by ``surface``."""

    name: str
    polygon: np.ndarray
    surface: Surface

    def mask(self, height: int, width: int) -> np.ndarray:
        """(H, W) bool mask of the region clipped to the image."""
        return rasterize(Geometry((self.polygon,)), height, width)


def _ground(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Polygon below a wavy horizon."""
    xs = np.linspace(-1.0, width + 1.0, 33)
    level = rng.uniform(0.5, 0.8) * height
    amplitude, cycles, phase = rng.uniform(0.02, 0.08) * height, rng.uniform(0.5, 2.0), rng.uniform(0, 6.3)
    wave = amplitude * np.sin(2 * np.pi * cycles * xs / width + phase)
    top = np.stack([xs, level + wave], axis=1)
    return np.concatenate([top, [[width + 1.0, height + 1.0], [-1.0, height + 1.0]]])


def _wall(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A slightly rotated rectangle."""
    w, h = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    angle = rng.uniform(-0.3, 0.3)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ rot.T + [cx, cy]


def _blob(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth random star-convex blob."""
    theta = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
    radius = 1.0 + sum(rng.uniform(0.0, 0.18) * np.cos(k * theta + rng.uniform(0, 6.3)) for k in (2, 3, 4))
    scale = rng.uniform(0.2, 0.4) * min(width, height)
    cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
    return np.stack([cx + scale * radius * np.cos(theta), cy + scale * radius * np.sin(theta)], axis=1)


_KINDS = (_ground, _wall, _blob)


def sample_stuff(rng: np.random.Generator, size: tuple[int, int], max_regions: int = 3) -> list[StuffRegion]:
    """1..``max_regions`` regions of distinct stuff classes for an image of ``size`` = (W, H), back to front."""
    width, height = size
    names = list(STUFF)
    count = int(rng.integers(1, min(max_regions, len(names)) + 1))
    chosen = [names[int(i)] for i in rng.permutation(len(names))[:count]]
    regions = []
    for name in chosen:
        polygon = _KINDS[int(rng.integers(len(_KINDS)))](rng, width, height)
        tint = np.clip(np.asarray(STUFF[name]) + rng.integers(-12, 13, size=3), 0, 255)
        surface = Surface.sample(rng, (int(tint[0]), int(tint[1]), int(tint[2])), name)
        regions.append(StuffRegion(name, np.asarray(polygon, dtype=np.float64), surface))
    return regions


def paint_stuff(image: np.ndarray, regions: list[StuffRegion]) -> list[np.ndarray]:
    """Paint ``regions`` into ``image`` (H, W, 3) in order, in place; return their full (H, W) bool masks."""
    height, width = image.shape[:2]
    masks = []
    for region in regions:
        mask = region.mask(height, width)
        center = tuple(float(v) for v in region.polygon.mean(axis=0))
        paint(image, mask, region.surface, (center[0], center[1]), 0.5 * max(width, height))
        masks.append(mask)
    return masks
