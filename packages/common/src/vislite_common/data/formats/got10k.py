"""Reader for GOT-10k-layout tracking sequences: ``<root>/<split>/{list.txt, GOT-10k_<Split>_<n>/...}``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vislite_common.data.formats.errors import FormatError, require_dir
from vislite_common.data.formats.lasot import expected_frames, numbered_frames
from vislite_common.data.formats.text import check_length, read_boxes, read_labels


class Got10kSequence(NamedTuple):
    """One GOT-10k sequence; unpacks as ``frames, boxes, absence, cover``."""

    frames: list[Path]  # N frame paths, in order
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h
    absence: np.ndarray  # (N,) bool, target absent (fully occluded or out of view)
    cover: np.ndarray  # (N,) int64 0..8, visible-area level (0 = fully occluded, 8 = fully visible)


def read_got10k_sequence(seq_dir: str | os.PathLike) -> Got10kSequence:
    """Read one GOT-10k sequence folder (frames, ``groundtruth.txt``, ``absence.label``, ``cover.label``).

    Raises FileNotFoundError for a missing file or folder and FormatError for malformed content or a frame /
    box / label count mismatch. Without frames (an annotation-only copy) the frame paths are those the frames
    would have, one per box.
    """
    seq_dir = require_dir(Path(seq_dir), "GOT-10k sequence folder")
    gt_path = seq_dir / "groundtruth.txt"
    boxes = read_boxes(gt_path)
    has_frames = any(p.suffix.lower() == ".jpg" and p.stem.isdigit() for p in seq_dir.iterdir())
    # An annotation-only copy (no frames, as the got10k toolkit scores it): one frame per box.
    frames = numbered_frames(seq_dir) if has_frames else expected_frames(seq_dir, len(boxes))
    check_length(gt_path, boxes, len(frames), "boxes")
    absence = read_labels(seq_dir / "absence.label", range(2), "absence.label (one 0/1 per line)")
    check_length(seq_dir / "absence.label", absence, len(frames), "labels")
    cover = read_labels(seq_dir / "cover.label", range(9), "cover.label (one 0..8 per line)")
    check_length(seq_dir / "cover.label", cover, len(frames), "labels")
    return Got10kSequence(frames, boxes, absence.astype(bool), cover)


def list_got10k_sequences(root: str | os.PathLike, split: str) -> list[Path]:
    """Sequence folders of ``<root>/<split>``: those named in its ``list.txt``, else every sub-folder, sorted."""
    split_dir = require_dir(Path(root) / split, f"GOT-10k split folder {split!r}")
    listing = split_dir / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
        missing = [name for name in names if not (split_dir / name).is_dir()]
        if missing:
            raise FormatError(listing, f"names {len(missing)} missing sequence folder(s), e.g. {missing[0]!r}")
        if not names:
            raise FormatError(listing, "is empty; expected one sequence folder name per line")
        return [split_dir / name for name in names]
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if not folders:
        raise FormatError(split_dir, "no sequence folders and no list.txt")
    return folders
