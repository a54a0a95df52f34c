"""Scenes: sample object looks and placements, and compose them over a background into an image + instance masks.

Objects are painted in list order, so later objects occlude earlier ones; ``visible_masks`` gives what is left of
each. ``place_objects`` re-samples a placement until every object keeps at least ``min_visible`` of its area.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vislite_common.data.world.shapes import Geometry, geometry, rasterize
from vislite_common.data.world.textures import Surface, paint
from vislite_common.data.world.vocab import COLOURS, SHAPES, SIMILAR_COLOURS, TEXTURES, describe


@dataclass(frozen=True)
class Look:
    """What an object looks like, independent of where it is: class, colour name and surface."""

    shape: str
    colour: str
    surface: Surface
    aspect: float = 1.0

    @property
    def texture(self) -> str:
        """The surface's texture name."""
        return self.surface.texture

    def phrase(self) -> str:
        """Noun phrase, e.g. "red striped star"."""
        return describe(self.shape, self.colour, self.texture)


@dataclass(frozen=True)
class SceneObject:
    """A placed object: its ``look``, centre (x, y) px, circumradius px and rotation (rad)."""

    look: Look
    center: tuple[float, float]
    radius: float
    angle: float = 0.0

    def geometry(self) -> Geometry:
        """Polygons of the object in image coordinates."""
        return geometry(self.look.shape, self.center, self.radius, self.angle, self.look.aspect)

    def mask(self, height: int, width: int) -> np.ndarray:
        """(H, W) bool mask of the full (unoccluded) object, clipped to the image."""
        return rasterize(self.geometry(), height, width)


def sample_aspect(rng: np.random.Generator, shape: str) -> float:
    """Aspect ratio for ``shape``: 1 for circles and rings, 1.6-2.2 for ellipses, a slight jitter otherwise."""
    if shape in ("circle", "ring"):
        return 1.0
    if shape == "ellipse":
        return float(rng.uniform(1.6, 2.2))
    return float(rng.uniform(0.9, 1.1))


def jitter_rgb(rng: np.random.Generator, colour: str, amount: int = 14) -> tuple[int, int, int]:
    """The named colour with each channel jittered by up to ``amount``."""
    base = np.asarray(COLOURS[colour], dtype=np.int64) + rng.integers(-amount, amount + 1, size=3)
    return tuple(int(c) for c in np.clip(base, 0, 255))  # type: ignore[return-value]


def sample_look(
    rng: np.random.Generator,
    *,
    shape: str | None = None,
    colour: str | None = None,
    textures: tuple[str, ...] = TEXTURES,
    shapes: tuple[str, ...] = SHAPES,
) -> Look:
    """A random look; ``shape`` / ``colour`` fix those attributes, the rest is drawn independently."""
    names = tuple(COLOURS)
    shape = shape if shape is not None else shapes[int(rng.integers(len(shapes)))]
    colour = colour if colour is not None else names[int(rng.integers(len(names)))]
    texture = textures[int(rng.integers(len(textures)))]
    surface = Surface.sample(rng, jitter_rgb(rng, colour), texture)
    return Look(shape=shape, colour=colour, surface=surface, aspect=sample_aspect(rng, shape))


def sample_lookalike(rng: np.random.Generator, look: Look, *, textures: tuple[str, ...] = TEXTURES) -> Look:
    """A distractor resembling ``look``: same shape in another colour, or a similar colour on another shape."""
    if rng.random() < 0.5:
        others = tuple(c for c in COLOURS if c != look.colour)
        return sample_look(rng, shape=look.shape, colour=others[int(rng.integers(len(others)))], textures=textures)
    shapes = tuple(s for s in SHAPES if s != look.shape)
    colour = look.colour if rng.random() < 0.5 else SIMILAR_COLOURS[look.colour]
    return sample_look(rng, shape=shapes[int(rng.integers(len(shapes)))], colour=colour, textures=textures)


def visible_masks(full: np.ndarray) -> np.ndarray:
    """(N, H, W) visible part of each of ``full`` (N, H, W) masks when painted in order (later on top)."""
    visible = np.zeros_like(full)
    covered = np.zeros(full.shape[1:], dtype=bool)
    for i in range(full.shape[0] - 1, -1, -1):
        visible[i] = full[i] & ~covered
        covered |= full[i]
    return visible


def compose(background: np.ndarray, objects: list[SceneObject]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint ``objects`` in order over ``background`` (H, W, 3) uint8.

    Returns (image (H, W, 3) uint8, full masks (N, H, W) bool, visible masks (N, H, W) bool).
    """
    height, width = background.shape[:2]
    image = background.copy()
    full = np.zeros((len(objects), height, width), dtype=bool)
    for i, obj in enumerate(objects):
        full[i] = obj.mask(height, width)
        paint(image, full[i], obj.look.surface, obj.center, obj.radius)
    return image, full, visible_masks(full)


def place_objects(
    rng: np.random.Generator,
    looks: list[Look],
    size: tuple[int, int],
    radius_range: tuple[float, float],
    *,
    min_visible: float = 0.3,
    min_pixels: int = 12,
    near_prob: float = 0.4,
    tries: int = 30,
) -> list[SceneObject]:
    """Place ``looks`` in order inside an image of ``size`` = (W, H), each object fully inside the image.

    Every placed object keeps at least ``min_visible`` of its area (and ``min_pixels`` pixels) visible after all
    later objects are drawn; a placement breaking this is re-sampled up to ``tries`` times, then the object is
    left out. With probability ``near_prob`` an object is put next to an earlier one, so occlusions are common.
    """
    width, height = size
    placed: list[SceneObject] = []
    masks: list[np.ndarray] = []  # full masks of ``placed``
    for look in looks:
        for _ in range(tries):
            radius = float(rng.uniform(*radius_range))
            radius = min(radius, 0.5 * min(width, height) - 1.0)
            angle = float(rng.uniform(0.0, 2 * np.pi))
            if placed and rng.random() < near_prob:
                anchor = placed[int(rng.integers(len(placed)))]
                direction = rng.uniform(0.0, 2 * np.pi)
                dist = (anchor.radius + radius) * rng.uniform(0.3, 0.9)
                cx = anchor.center[0] + dist * np.cos(direction)
                cy = anchor.center[1] + dist * np.sin(direction)
            else:
                cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            candidate = SceneObject(look, (float(cx), float(cy)), radius, angle)
            x0, y0, x1, y1 = candidate.geometry().bounds()
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                candidate = _shift_inside(candidate, (x0, y0, x1, y1), width, height)
                if candidate is None:
                    continue
            mask = candidate.mask(height, width)
            if int(mask.sum()) < max(min_pixels, 1):
                continue
            if _keeps_visible([*masks, mask], min_visible, min_pixels):
                placed.append(candidate)
                masks.append(mask)
                break
    return placed


def _shift_inside(
    obj: SceneObject, bounds: tuple[float, float, float, float], width: int, height: int
) -> SceneObject | None:
    """``obj`` moved the least amount that puts its bounds inside the image, or None if it cannot fit."""
    x0, y0, x1, y1 = bounds
    if x1 - x0 > width or y1 - y0 > height:
        return None
    dx = -x0 if x0 < 0 else (width - x1 if x1 > width else 0.0)
    dy = -y0 if y0 < 0 else (height - y1 if y1 > height else 0.0)
    return replace(obj, center=(obj.center[0] + dx, obj.center[1] + dy))


def _keeps_visible(masks: list[np.ndarray], min_visible: float, min_pixels: int) -> bool:
    """Whether every mask in painter's order keeps ``min_visible`` of its area and ``min_pixels`` visible."""
    visible = visible_masks(np.stack(masks))
    for full, vis in zip(masks, visible):
        area, seen = int(full.sum()), int(vis.sum())
        if seen < min_pixels or seen < min_visible * area:
            return False
    return True
