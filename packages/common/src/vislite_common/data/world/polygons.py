"""Exact mask → COCO segmentation conversion (polygons that pycocotools rasterises back pixel-for-pixel, and RLE).

Convention: pixel ``(row r, col c)`` is the unit square ``[c, c+1] x [r, r+1]`` — the same convention as COCO's
``bbox``. Polygons trace the pixel edges of the mask, so their vertices are integers; pycocotools' rasteriser
(which samples pixel centres on integer coordinates, boundary rows inclusive at the top, exclusive at the bottom)
turns such a polygon back into exactly the same pixels. Holes are kept: each hole is joined to its outer boundary
by a zero-width "keyhole" bridge, which pycocotools' parity rasteriser cancels out (other rasterisers, e.g.
``cv2.fillPoly``, treat pixels on polygon edges differently and are only approximately equal).
"""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

# Outgoing directions, as (dx, dy) on the corner grid (y points down).
_RIGHT, _DOWN, _LEFT, _UP = (1, 0), (0, 1), (-1, 0), (0, -1)


def _boundary_edges(mask: np.ndarray) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Directed pixel edges of ``mask`` (H, W) with the foreground on their right, keyed by start corner (x, y)."""
    padded = np.pad(mask.astype(bool), 1)  # (H+2, W+2); padded[r+1, c+1] == mask[r, c]
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def add(ys: np.ndarray, xs: np.ndarray, direction: tuple[int, int]) -> None:
        for x, y in zip(xs.tolist(), ys.tolist()):
            out.setdefault((x, y), []).append(direction)

    above, below = padded[:-1, 1:-1], padded[1:, 1:-1]  # (H+1, W): rows on either side of corner-row y
    ys, xs = np.nonzero(below & ~above)  # foreground below → edge runs right, from corner (x, y)
    add(ys, xs, _RIGHT)
    ys, xs = np.nonzero(above & ~below)  # foreground above → edge runs left, from corner (x+1, y)
    add(ys, xs + 1, _LEFT)
    left, right = padded[1:-1, :-1], padded[1:-1, 1:]  # (H, W+1): columns on either side of corner-column x
    ys, xs = np.nonzero(right & ~left)  # foreground right → edge runs up, from corner (x, y+1)
    add(ys + 1, xs, _UP)
    ys, xs = np.nonzero(left & ~right)  # foreground left → edge runs down, from corner (x, y)
    add(ys, xs, _DOWN)
    return out


def _turn_order(direction: tuple[int, int]) -> list[tuple[int, int]]:
    """Candidate next directions: right turn first (keeps diagonal neighbours apart), then straight, then left."""
    dx, dy = direction
    return [(-dy, dx), (dx, dy), (dy, -dx)]


def _trace_loops(mask: np.ndarray) -> list[np.ndarray]:
    """Closed pixel-edge loops of ``mask``: (N, 2) int arrays of corner vertices (x, y), collinear points removed."""
    edges = _boundary_edges(mask)
    loops: list[np.ndarray] = []
    for start in sorted(edges):  # sorted → deterministic loop order
        while edges[start]:
            first = edges[start].pop(0)
            corner, direction = start, first
            points, dirs = [start], [first]
            while True:
                corner = (corner[0] + direction[0], corner[1] + direction[1])
                options = edges.get(corner, [])
                allowed = options + [first] if corner == start else options
                direction = next(d for d in _turn_order(direction) if d in allowed)
                if corner == start and direction == first:
                    break  # back at the start, leaving the way we first left: the loop is closed
                options.remove(direction)
                points.append(corner)
                dirs.append(direction)
            keep = [i for i in range(len(points)) if dirs[i] != dirs[i - 1]]  # corners where the direction changes
            loops.append(np.asarray([points[i] for i in keep], dtype=np.int64))
    return loops


def _join_keyholes(outer: np.ndarray, holes: list[np.ndarray]) -> np.ndarray:
    """Splice every hole into ``outer`` through a zero-width bridge between nearest vertices; returns (N, 2)."""
    poly = outer
    for hole in holes:
        d2 = ((poly[:, None, :] - hole[None, :, :]) ** 2).sum(-1)  # (P, Q) squared distances
        i, j = np.unravel_index(int(np.argmin(d2)), d2.shape)
        ring = np.concatenate([hole[j:], hole[: j + 1]])  # hole walked from vertex j back to vertex j
        poly = np.concatenate([poly[: i + 1], ring, poly[i:]])
    return poly


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (``[[x1, y1, x2, y2, ...], ...]``, one per 4-connected component) exactly covering ``mask`` (H, W).

    ``pycocotools.mask.frPyObjects(polys, H, W)`` merged back gives ``mask`` exactly; see the module docstring.
    """
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    _, labels = cv2.connectedComponents(mask, connectivity=4)  # (H, W) int32, 0 = background
    loops = _trace_loops(mask)
    groups: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for loop in loops:
        (x0, y0), (x1, y1) = loop[0], loop[1]
        # The pixel on the right of the first edge is foreground and tells the loop's component.
        dx, dy = int(np.sign(x1 - x0)), int(np.sign(y1 - y0))
        px, py = _right_pixel(int(x0), int(y0), dx, dy)
        area2 = float(np.sum(loop[:, 0] * np.roll(loop[:, 1], -1) - np.roll(loop[:, 0], -1) * loop[:, 1]))
        outers, holes = groups.setdefault(int(labels[py, px]), ([], []))
        (outers if area2 > 0 else holes).append(loop)  # clockwise on screen (positive in y-down) = outer boundary
    polygons: list[list[float]] = []
    for label in sorted(groups):
        outers, holes = groups[label]
        for k, outer in enumerate(outers):
            poly = _join_keyholes(outer, holes if k == 0 else [])
            polygons.append([float(v) for v in poly.reshape(-1)])
    return polygons


def _right_pixel(x: int, y: int, dx: int, dy: int) -> tuple[int, int]:
    """(col, row) of the pixel on the right-hand side of the unit edge leaving corner (x, y) in direction (dx, dy)."""
    if (dx, dy) == _RIGHT:
        return x, y
    if (dx, dy) == _LEFT:
        return x - 1, y - 1
    if (dx, dy) == _DOWN:
        return x - 1, y
    return x, y - 1  # _UP


def mask_to_rle(mask: np.ndarray) -> dict[str, object]:
    """COCO compressed RLE of ``mask`` (H, W) with ``counts`` as a str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of the tight box around ``mask`` (H, W); all zeros for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
