"""COCO instance masks: checking polygon / RLE ``segmentation`` fields and decoding them to (H, W) arrays."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from vislite_detection.data.errors import AnnotationError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_segmentation(seg: Any, image: Mapping[str, Any], path: Path, record: str) -> None:
    """Raise an :class:`AnnotationError` unless ``seg`` is a usable mask of ``image``.

    Polygons: a non-empty list of ``[x1, y1, x2, y2, ...]`` lists of at least 3 points (6 finite numbers, an even
    count). RLE: ``{"size": [height, width], "counts": ...}`` whose size is the image's and whose ``counts`` is a
    string (compressed) or a list of non-negative integers summing to height * width (uncompressed).
    """
    height, width = int(image["height"]), int(image["width"])
    if isinstance(seg, list):
        if not seg:
            raise AnnotationError(path, record, "segmentation", "is an empty polygon list", "give at least one polygon")
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or not all(_is_number(v) for v in poly):
                raise AnnotationError(path, record, "segmentation", f"polygon {k} is not a list of finite numbers")
            if len(poly) < 6 or len(poly) % 2:
                raise AnnotationError(
                    path,
                    record,
                    "segmentation",
                    f"polygon {k} has {len(poly)} coordinates; expected an even count of at least 6 (3 points)",
                    "remove the degenerate polygon",
                )
        return
    if isinstance(seg, Mapping):
        size = seg.get("size")
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise AnnotationError(path, record, "segmentation.size", f"is {size!r}, expected [height, width]")
        if [int(size[0]), int(size[1])] != [height, width]:
            raise AnnotationError(
                path,
                record,
                "segmentation.size",
                f"is {list(size)} but the image is {height}x{width} (height x width); RLE size mismatch",
                "encode the RLE at the image's size",
            )
        counts = seg.get("counts")
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise AnnotationError(path, record, "segmentation.counts", "must hold non-negative integers")
            if sum(counts) != height * width:
                raise AnnotationError(
                    path,
                    record,
                    "segmentation.counts",
                    f"sums to {sum(counts)} pixels but the image has {height * width}; RLE size mismatch",
                )
        elif not isinstance(counts, (str, bytes)) or not counts:
            raise AnnotationError(path, record, "segmentation.counts", f"is {counts!r}, expected an RLE string or list")
        return
    raise AnnotationError(
        path, record, "segmentation", f"is a {type(seg).__name__}, expected a polygon list or an RLE dict"
    )


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """(height, width) uint8 mask of a checked polygon list or RLE dict (pycocotools' decoder)."""
    with warnings.catch_warnings():  # pycocotools' decoder predates numpy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        if isinstance(seg, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        elif isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(dict(seg), height, width)
        else:
            counts = seg["counts"]
            rle = {"size": list(seg["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        mask = mask_utils.decode(rle)
    if mask.shape != (height, width):
        raise ValueError(f"decoded mask is {mask.shape[0]}x{mask.shape[1]}, expected {height}x{width}")
    return mask.astype(np.uint8)
