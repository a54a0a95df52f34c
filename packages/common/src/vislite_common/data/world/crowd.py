"""Random multi-object scenes (detection and segmentation layouts): look-alikes, scale spread and occlusion."""

from __future__ import annotations

import numpy as np

from vislite_common.data.world.scene import Look, SceneObject, place_objects, sample_look, sample_lookalike
from vislite_common.data.world.vocab import TEXTURES


def sample_crowd(
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    num_objects: tuple[int, int] = (2, 5),
    radius_frac: tuple[float, float] = (0.07, 0.28),
    lookalike_prob: float = 0.4,
    textures: tuple[str, ...] = TEXTURES,
    min_visible: float = 0.3,
) -> list[SceneObject]:
    """Objects for one image of ``size`` = (W, H), back to front, each keeping ``min_visible`` of its area visible.

    ``num_objects`` is an inclusive range; radii are fractions of min(W, H). With ``lookalike_prob`` an object
    resembles an earlier one (same shape in another colour, or similar colour on another shape).
    """
    looks: list[Look] = []
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        if looks and rng.random() < lookalike_prob:
            looks.append(sample_lookalike(rng, looks[int(rng.integers(len(looks)))], textures=textures))
        else:
            looks.append(sample_look(rng, textures=textures))
    side = min(size)
    radius_range = (radius_frac[0] * side, radius_frac[1] * side)
    return place_objects(rng, looks, size, radius_range, min_visible=min_visible)
