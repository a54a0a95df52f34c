"""OTB2015 reader: ``<root>/<Seq>/img/%04d.jpg`` with ``groundtruth_rect.txt`` (comma- or whitespace-separated).

Two-target sequences ship ``groundtruth_rect.1.txt`` / ``groundtruth_rect.2.txt`` and become ``<Seq>_1`` and
``<Seq>_2`` (``Jogging``, ``Skating2``; ``Human4`` has only the second file and becomes ``Human4_2``), as in
pytracking's OTB list. A few sequences annotate only part of their frames (``FRAME_RANGES``, 1-based, inclusive)
and ``Tiger1`` skips its first five frames (``INIT_OMIT``), as the benchmark defines them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vislite_common.data.formats import FormatError
from vislite_common.data.formats.errors import require_dir
from vislite_common.data.formats.text import read_boxes
from vislite_tracking.data.sequence import Sequence

FRAME_RANGES: dict[str, tuple[int, int]] = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
    "BlurCar1": (247, 988),
    "BlurCar3": (3, 359),
    "BlurCar4": (18, 397),
}
INIT_OMIT: dict[str, int] = {"Tiger1": 5}
_ANNOTATION = re.compile(r"^groundtruth_rect(?:\.(\d+))?\.txt$")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _numbered_images(img_dir: Path) -> dict[int, Path]:
    return {int(p.stem): p for p in img_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.stem.isdigit()}


def read_otb(seq_dir: str | os.PathLike, annotation: str = "groundtruth_rect.txt") -> Sequence:
    """One OTB sequence from ``seq_dir`` and its ``annotation`` file, applying the benchmark's frame range.

    Raises FileNotFoundError for a missing folder, annotation file or frame (naming the sequence and frame
    number) and FormatError when the annotation is malformed or its box count differs from the frame range.
    """
    seq_dir = Path(seq_dir)
    match = _ANNOTATION.match(annotation)
    if match is None:
        raise ValueError(f"{annotation!r} is not an OTB annotation name (groundtruth_rect[.<k>].txt)")
    base = seq_dir.name
    name = base if match[1] is None else f"{base}_{match[1]}"
    gt_path = seq_dir / annotation
    boxes = read_boxes(gt_path)
    start, end = FRAME_RANGES.get(base, (1, len(boxes)))
    if end - start + 1 != len(boxes):
        raise FormatError(gt_path, f"has {len(boxes)} boxes but sequence {name!r} spans frames {start}..{end}")
    omit = INIT_OMIT.get(base, 0)
    if not (seq_dir / "img").exists():  # an annotation-only copy: the paths the frames would have
        frames = [seq_dir / "img" / f"{number:04d}.jpg" for number in range(start + omit, end + 1)]
        boxes = boxes[omit:]
        return Sequence(name=name, dataset="otb", frames=frames, boxes=boxes, visible=np.ones(len(frames), bool))
    images = _numbered_images(require_dir(seq_dir / "img", f"OTB frame folder of sequence {name!r}"))
    frames = []
    for number in range(start + omit, end + 1):
        if number not in images:
            missing = f"{number:04d}.jpg"
            raise FileNotFoundError(f"{seq_dir / 'img'}: sequence {name!r} misses frame {number} ({missing})")
        frames.append(images[number])
    boxes = boxes[omit:]
    return Sequence(name=name, dataset="otb", frames=frames, boxes=boxes, visible=np.ones(len(frames), dtype=bool))


def otb_sequences(root: str | os.PathLike, split: str | None = None) -> list[Sequence]:
    """Every annotated sequence under an OTB root, sorted by name (OTB has no splits: ``split`` must be None)."""
    if split not in (None, "test", "all"):
        raise ValueError(f"OTB has no split {split!r}; pass split=None")
    root = require_dir(Path(root), "OTB root")
    out = []
    for seq_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for annotation in sorted(p.name for p in seq_dir.iterdir() if _ANNOTATION.match(p.name)):
            out.append(read_otb(seq_dir, annotation))
    if not out:
        raise FormatError(root, "no OTB sequences found; expected <Seq>/img/0001.jpg and <Seq>/groundtruth_rect.txt")
    return sorted(out, key=lambda s: s.name)
