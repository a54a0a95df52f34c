"""Shape geometry: each class as polygons (outer boundaries and holes) and their exact rasterisation with OpenCV."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from vislite_common.data.world.vocab import SHAPES

_SHIFT = 4  # cv2 fixed-point bits: polygons are rasterised at 1/16 px precision
_CIRCLE_VERTICES = 48


@dataclass(frozen=True)
class Geometry:
    """Polygons of one placed shape in image coordinates (x, y) px: ``outer`` areas minus ``holes``."""

    outer: tuple[np.ndarray, ...]  # each (N, 2) float64
    holes: tuple[np.ndarray, ...] = ()

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the outer polygons."""
        pts = np.concatenate(self.outer)
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _regular(n: int, radius: float = 1.0, phase: float = -np.pi / 2) -> np.ndarray:
    """(n, 2) vertices of a regular n-gon on a circle of ``radius``, first vertex pointing up."""
    t = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


@cache
def _unit_shape(shape: str) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Canonical (outer, holes) polygons of ``shape`` inside the unit circle, centred at the origin."""
    if shape in ("circle", "ellipse"):
        return (_regular(_CIRCLE_VERTICES),), ()
    if shape == "ring":
        return (_regular(_CIRCLE_VERTICES),), (_regular(_CIRCLE_VERTICES, 0.55),)
    if shape == "square":
        return (_regular(4, phase=-np.pi / 4),), ()
    if shape == "triangle":
        return (_regular(3) + [0.0, 0.15],), ()  # shifted down so the centroid sits near the origin
    if shape == "hexagon":
        return (_regular(6),), ()
    if shape == "star":
        outer, inner = _regular(5), _regular(5, 0.42, phase=-np.pi / 2 + np.pi / 5)
        return (np.stack([outer, inner], axis=1).reshape(10, 2),), ()
    if shape == "cross":
        a, b = 0.3, 0.95
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a)]
        pts.append((-a, -a))
        return (np.asarray(pts, dtype=np.float64),), ()
    raise ValueError(f"unknown shape {shape!r}; expected one of {list(SHAPES)}")


def geometry(shape: str, center: tuple[float, float], radius: float, angle: float, aspect: float = 1.0) -> Geometry:
    """Place ``shape`` at ``center`` (x, y) px with circumradius ``radius`` px, rotated by ``angle`` rad.

    ``aspect`` > 1 squashes the shape's height by ``1 / aspect`` before rotation (ellipses use 1.6-2.2).
    """
    outer, holes = _unit_shape(shape)
    cos, sin = np.cos(angle), np.sin(angle)
    rot = np.array([[cos, -sin], [sin, cos]])
    scale = np.array([1.0, 1.0 / aspect])

    def place(poly: np.ndarray) -> np.ndarray:
        return (poly * scale) @ rot.T * radius + np.asarray(center, dtype=np.float64)

    return Geometry(tuple(place(p) for p in outer), tuple(place(p) for p in holes))


def rasterize(geom: Geometry, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of ``geom`` (outer polygons filled, holes cleared), clipped to the image."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    scale = float(1 << _SHIFT)

    def fixed(polys: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        # Pixel (r, c) covers [c, c+1] x [r, r+1]; cv2 samples pixel centres at integers, hence the -0.5.
        return [np.round((p - 0.5) * scale).astype(np.int32) for p in polys]

    cv2.fillPoly(canvas, fixed(geom.outer), 1, lineType=cv2.LINE_8, shift=_SHIFT)
    if geom.holes:
        cv2.fillPoly(canvas, fixed(geom.holes), 0, lineType=cv2.LINE_8, shift=_SHIFT)
    return canvas.astype(bool)
