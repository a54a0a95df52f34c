"""GOT-10k reader: ``<root>/{train,val,test}/{list.txt, GOT-10k_<Split>_<n>/{%08d.jpg, groundtruth.txt, ...}}``.

Train and val sequences carry a box per frame plus ``absence.label`` and ``cover.label``; test sequences carry
only the first frame's box (the rest is withheld for the evaluation server), so their later boxes are NaN and
``visible`` is False after frame 1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vislite_common.data.formats import FormatError, list_got10k_sequences, read_got10k_sequence
from vislite_common.data.formats.lasot import numbered_frames
from vislite_common.data.formats.text import read_boxes
from vislite_tracking.data.sequence import Sequence

SPLITS: tuple[str, ...] = ("train", "val", "test")
INDEX_SPLITS: dict[str, str] = {  # the reference trainer's subsets of train: 0-based indices into train/list.txt
    "vottrain": "got10k_vot_train_split.txt",
    "votval": "got10k_vot_val_split.txt",
    "train_full": "got10k_train_full_split.txt",
}
_RESOLUTION = re.compile(r"^\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def read_meta_info(path: Path) -> dict[str, str]:
    """The ``key: value`` lines of a ``meta_info.ini`` (header lines in brackets are skipped)."""
    meta: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.lstrip().startswith("["):
            meta[key.strip()] = value.strip()
    return meta


def _resolution(meta: dict[str, str], path: Path) -> tuple[int, int] | None:
    if "resolution" not in meta:
        return None
    match = _RESOLUTION.match(meta["resolution"])
    if match is None:
        raise FormatError(path, f"resolution is {meta['resolution']!r}, expected '(W, H)'")
    return int(match[1]), int(match[2])


def _read_test_sequence(seq_dir: Path) -> tuple[list[Path], np.ndarray]:
    frames = numbered_frames(seq_dir)
    first = read_boxes(seq_dir / "groundtruth.txt")
    if len(first) != 1 and len(first) != len(frames):
        raise FormatError(
            seq_dir / "groundtruth.txt", f"has {len(first)} boxes; expected 1 (test split) or {len(frames)}"
        )
    boxes = np.full((len(frames), 4), np.nan)
    boxes[: len(first)] = first
    return frames, boxes


def read_got10k(seq_dir: str | os.PathLike, *, split: str = "val") -> Sequence:
    """One GOT-10k sequence; ``visible`` = not ``absence``, ``cover`` and ``frame_size`` from the label files.

    Raises FileNotFoundError for a missing file or folder and FormatError (naming the file and line) for a
    malformed or NaN box, a bad label, a gap in the frame numbers or a frame / box / label count mismatch.
    """
    seq_dir = Path(seq_dir)
    meta_path = seq_dir / "meta_info.ini"
    meta = read_meta_info(meta_path) if meta_path.is_file() else {}
    common = {"name": seq_dir.name, "dataset": "got10k", "object_class": meta.get("object_class")}
    frame_size = _resolution(meta, meta_path)
    if split == "test":
        frames, boxes = _read_test_sequence(seq_dir)
        visible = ~np.isnan(boxes).any(axis=1)
        return Sequence(frames=frames, boxes=boxes, visible=visible, frame_size=frame_size, **common)
    frames, boxes, absence, cover = read_got10k_sequence(seq_dir)
    return Sequence(frames=frames, boxes=boxes, visible=~absence, cover=cover, frame_size=frame_size, **common)


def _index_split(root: Path, split: str) -> list[Path]:
    """Train sequence folders picked by an index file ``<root>/got10k_*_split.txt`` (one integer per line)."""
    listing = root / INDEX_SPLITS[split]
    if not listing.is_file():
        raise FileNotFoundError(f"{listing}: missing GOT-10k split file for split {split!r} (one train index per line)")
    folders = list_got10k_sequences(root, "train")
    picked = []
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if not line.strip().isdigit() or int(line) >= len(folders):
            raise FormatError(listing, f"line {number}: {line.strip()!r} is not an index below {len(folders)}")
        picked.append(folders[int(line)])
    return picked


def got10k_sequences(root: str | os.PathLike, split: str | None = None) -> list[Sequence]:
    """Sequences of ``<root>/<split>`` ("train", "val" (the default) or "test"), in ``list.txt`` order, or a
    subset of train named by an index file in the root ("vottrain", "votval", "train_full")."""
    split = "val" if split is None else split
    if split in INDEX_SPLITS:
        return [read_got10k(path, split="train") for path in _index_split(Path(root), split)]
    if split not in SPLITS:
        raise ValueError(f"unknown GOT-10k split {split!r}; expected one of {[*SPLITS, *INDEX_SPLITS]}")
    return [read_got10k(path, split=split) for path in list_got10k_sequences(root, split)]
