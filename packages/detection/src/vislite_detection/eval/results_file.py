"""Reading a COCO results file (detections or segmentations) with every entry checked against the ground truth.

Each entry must be an object with an ``image_id`` of the ground truth, a ``category_id`` of its categories, a
finite numeric ``score`` and, for ``bbox``, a ``bbox`` of four finite numbers ``[x, y, w, h]`` with ``w, h >= 0``;
for ``segm``, a ``segmentation`` (an RLE ``{"size": [h, w], "counts": ...}`` of the image's size, or polygons of
an even number >= 6 of finite coordinates). An entry equal to an earlier one (same image, category, box or mask
and score) is a duplicate: it would be scored as a second detection of the same object.

A bad entry is a :class:`ResultsFileError` naming the file, the entry's index and the field; with
``on_invalid="drop"`` bad entries are dropped instead, and counted (by reason) in the log and in the returned
:class:`ResultsReport`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

OnInvalid = Literal["error", "drop"]


class ResultsFileError(ValueError):
    """A results file, or one of its entries, that cannot be scored; the message names file, entry and field."""


@dataclass
class ResultsReport:
    """What :func:`read_results` kept and dropped (``dropped``: reason -> count)."""

    kept: int = 0
    dropped: Counter = field(default_factory=Counter)


def load_json_file(path: str | os.PathLike, what: str) -> Any:
    """Parse a JSON file; missing, binary or malformed files are a :class:`ResultsFileError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ResultsFileError(
            f"{what} {path} is not a UTF-8 text file (byte {error.start}: {error.reason}); expected COCO JSON"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFileError(f"{what} {path} is not valid JSON (line {error.lineno}, column {error.colno}: "
                               f"{error.msg})") from None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_bbox(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) != 4:
        return f"must be a list [x, y, w, h] of 4 numbers, got {value!r}"
    if not all(_finite(v) for v in value):
        return f"must hold 4 finite numbers, got {value!r}"
    if value[2] < 0 or value[3] < 0:
        return f"has a negative width or height: {value!r}"
    return None


def _check_segmentation(value: Any, image: Mapping[str, Any]) -> str | None:
    if isinstance(value, dict):
        size, counts = value.get("size"), value.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            return f"RLE needs size [height, width], got {size!r}"
        if "height" in image and "width" in image and size != [image["height"], image["width"]]:
            return f"RLE size {size} differs from the image's [{image['height']}, {image['width']}]"
        if not isinstance(counts, (str, list)):
            return f"RLE counts must be a string or a list, got {type(counts).__name__}"
        return None
    if isinstance(value, list) and value:
        for polygon in value:
            if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
                return "polygons must be lists of an even number (>= 6) of coordinates"
            if not all(_finite(v) for v in polygon):
                return "polygon coordinates must be finite numbers"
        return None
    return f"must be an RLE dict or a list of polygons, got {type(value).__name__}"


def _entry_problem(entry: Any, iou_type: str, images: Mapping[int, Any], categories: set[int]) -> tuple[str, str]:
    """(field, problem) of a bad entry, or ("", "") for a good one."""
    if not isinstance(entry, dict):
        return "entry", f"must be an object, got {type(entry).__name__}"
    geometry = "bbox" if iou_type == "bbox" else "segmentation"
    for key in ("image_id", "category_id", "score", geometry):
        if key not in entry:
            return key, "is missing"
    image_id, category_id, score = entry["image_id"], entry["category_id"], entry["score"]
    if not isinstance(image_id, int) or isinstance(image_id, bool) or image_id not in images:
        return "image_id", f"{image_id!r} is not an image of the ground truth"
    if not isinstance(category_id, int) or isinstance(category_id, bool) or category_id not in categories:
        return "category_id", f"{category_id!r} is not a category of the ground truth ({sorted(categories)[:10]})"
    if not _finite(score):
        return "score", f"must be a finite number, got {score!r}"
    problem = _check_bbox(entry["bbox"]) if iou_type == "bbox" else _check_segmentation(entry[geometry],
                                                                                           images[image_id])
    if problem is None and iou_type == "segm" and "bbox" in entry and _check_bbox(entry["bbox"]):
        return "bbox", _check_bbox(entry["bbox"]) or ""
    return (geometry, problem) if problem else ("", "")


def _key(entry: dict, iou_type: str) -> str:
    geometry = entry["bbox"] if iou_type == "bbox" else entry["segmentation"]
    return json.dumps([entry["image_id"], entry["category_id"], geometry, entry["score"]], sort_keys=True)


def validate_results(
    results: Any,
    gt: Any,
    *,
    iou_type: str = "bbox",
    source: str = "results",
    on_invalid: OnInvalid = "error",
) -> tuple[list[dict], ResultsReport]:
    """Check COCO result entries against ``gt`` (a COCO dict or an object with ``.dataset``, ``.imgs``, ``.cats``).

    Returns the good entries and a report; raises :class:`ResultsFileError` on the first bad entry unless
    ``on_invalid="drop"``.
    """
    if on_invalid not in ("error", "drop"):
        raise ValueError(f"on_invalid must be 'error' or 'drop', got {on_invalid!r}")
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    if not isinstance(results, list):
        raise ResultsFileError(f"{source} must be a JSON list of result entries (image_id, category_id, bbox, score), "
                               f"got {type(results).__name__}")
    dataset = gt if isinstance(gt, Mapping) else getattr(gt, "dataset", {})
    images = {img["id"]: img for img in dataset.get("images", [])}
    categories = {cat["id"] for cat in dataset.get("categories", [])}
    kept: list[dict] = []
    report = ResultsReport()
    seen: dict[str, int] = {}
    for index, entry in enumerate(results):
        key, problem = _entry_problem(entry, iou_type, images, categories)
        if not problem:
            fingerprint = _key(entry, iou_type)
            if fingerprint in seen:
                key, problem = "entry", f"duplicates entry {seen[fingerprint]}"
            else:
                seen[fingerprint] = index
        if problem:
            if on_invalid == "error":
                raise ResultsFileError(
                    f"{source}: entry {index} field {key!r} {problem}; pass --drop-invalid (on_invalid='drop') to "
                    f"drop bad entries and count them"
                )
            report.dropped["duplicate" if problem.startswith("duplicates") else f"bad {key}"] += 1
            continue
        kept.append(entry)
    report.kept = len(kept)
    if report.dropped:
        log.warning("%s: dropped %d invalid entr(y/ies) of %d: %s", source, sum(report.dropped.values()),
                    len(results), dict(report.dropped))
    return kept, report


def read_results(
    path: str | os.PathLike, gt: Any, *, iou_type: str = "bbox", on_invalid: OnInvalid = "error"
) -> tuple[list[dict], ResultsReport]:
    """Load and check the COCO results file ``path`` (see :func:`validate_results`)."""
    data = load_json_file(path, "results file")
    return validate_results(data, gt, iou_type=iou_type, source=f"results file {path}", on_invalid=on_invalid)
