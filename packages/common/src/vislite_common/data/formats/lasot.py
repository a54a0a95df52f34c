"""Reader for LaSOT-layout tracking sequences: ``<root>/<class>/<class>-<n>/{img/00000001.jpg, groundtruth.txt}``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vislite_common.data.formats.errors import FormatError, require_dir
from vislite_common.data.formats.text import check_length, read_boxes, read_labels

_SEQUENCE_NAME = re.compile(r"^(?P<cls>.+)-(?P<n>\d+)$")


class LasotSequence(NamedTuple):
    """One LaSOT sequence; unpacks as ``frames, boxes, full_occlusion, out_of_view``."""

    frames: list[Path]  # N frame paths, in order
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h
    full_occlusion: np.ndarray  # (N,) bool
    out_of_view: np.ndarray  # (N,) bool


def numbered_frames(folder: Path, suffix: str = ".jpg") -> list[Path]:
    """Frames ``00000001.jpg ...`` of ``folder`` in order; FormatError unless they are numbered 1..N without gaps."""
    frames = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == suffix and p.stem.isdigit()), key=lambda p: int(p.stem)
    )
    if not frames:
        raise FormatError(folder, f"no frames; expected 00000001{suffix}, 00000002{suffix}, ...")
    for expected, frame in enumerate(frames, start=1):
        if int(frame.stem) != expected:
            missing = f"{expected:08d}{suffix}"
            raise FormatError(folder, f"frames are not numbered 1..{len(frames)} without gaps: {missing} is missing")
    return frames


def expected_frames(folder: Path, count: int, suffix: str = ".jpg", digits: int = 8) -> list[Path]:
    """The paths ``00000001.jpg .. <count>`` frames would have in ``folder`` (annotation-only copies)."""
    return [folder / f"{number:0{digits}d}{suffix}" for number in range(1, count + 1)]


def read_lasot_sequence(seq_dir: str | os.PathLike) -> LasotSequence:
    """Read one LaSOT sequence folder (``img/``, ``groundtruth.txt``, ``full_occlusion.txt``, ``out_of_view.txt``).

    Raises FileNotFoundError for a missing file or folder and FormatError for malformed content or a frame /
    box / flag count mismatch. Without ``img/`` (an annotation-only copy) the frame paths are those the frames
    would have, one per box (enough to score results; reading such a frame raises FileNotFoundError naming it).
    """
    seq_dir = require_dir(Path(seq_dir), "LaSOT sequence folder")
    gt_path = seq_dir / "groundtruth.txt"
    boxes = read_boxes(gt_path)
    img_dir = seq_dir / "img"
    # An annotation-only copy (no img/, as pytracking and the got10k toolkit score it): one frame per box.
    frames = numbered_frames(img_dir) if img_dir.exists() else expected_frames(img_dir, len(boxes))
    check_length(gt_path, boxes, len(frames), "boxes")
    flags = []
    for name in ("full_occlusion.txt", "out_of_view.txt"):
        path = seq_dir / name
        values = read_labels(path, range(2), f"{name} (one line of comma-separated 0/1 flags per frame)")
        check_length(path, values, len(frames), "flags")
        flags.append(values.astype(bool))
    return LasotSequence(frames, boxes, flags[0], flags[1])


def list_lasot_sequences(root: str | os.PathLike) -> list[Path]:
    """Sequence folders ``<root>/<class>/<class>-<n>`` holding a ``groundtruth.txt``, sorted by class then ``n``."""
    root = require_dir(Path(root), "LaSOT root")
    found = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for seq_dir in class_dir.iterdir():
            match = _SEQUENCE_NAME.match(seq_dir.name)
            ok = match is not None and match["cls"] == class_dir.name
            if ok and seq_dir.is_dir() and (seq_dir / "groundtruth.txt").is_file():
                found.append((class_dir.name, int(match["n"]), seq_dir))
    if not found:
        raise FormatError(root, "no LaSOT sequences found; expected <class>/<class>-<n>/groundtruth.txt")
    return [path for _, _, path in sorted(found)]
