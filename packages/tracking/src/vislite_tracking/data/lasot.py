"""LaSOT reader: ``<root>/<class>/<class>-<n>/{img/%08d.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt}``.

Splits follow the dataset's own lists: ``<root>/testing_set.txt`` (Protocol II, 280 sequences on the real
dataset) and ``<root>/training_set.txt`` (or the reference trainer's ``lasot_train_split.txt``), one sequence
name per line. Without a list, ``split=None`` reads every
sequence under the root.
"""

from __future__ import annotations

import os
from pathlib import Path

from vislite_common.data.formats import FormatError, list_lasot_sequences, read_lasot_sequence
from vislite_tracking.data.sequence import Sequence

SPLIT_FILES: dict[str, str] = {"test": "testing_set.txt", "train": "training_set.txt"}
REFERENCE_TRAIN_FILE = "lasot_train_split.txt"  # the reference trainer's list (data_specs), same format


def read_lasot(seq_dir: str | os.PathLike) -> Sequence:
    """One LaSOT sequence; ``visible`` is False where ``full_occlusion`` or ``out_of_view`` is set.

    Raises FileNotFoundError for a missing file or folder and FormatError (naming the file and line) for a
    malformed or NaN box, a bad flag, a gap in the frame numbers or a frame / box / flag count mismatch.
    """
    seq_dir = Path(seq_dir)
    frames, boxes, full_occlusion, out_of_view = read_lasot_sequence(seq_dir)
    return Sequence(
        name=seq_dir.name,
        dataset="lasot",
        frames=frames,
        boxes=boxes,
        visible=~(full_occlusion | out_of_view),
        object_class=seq_dir.parent.name,
    )


def _read_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise FormatError(path, "is empty; expected one sequence name (<class>-<n>) per line")
    return names


def _split_names(root: Path, split: str) -> list[str]:
    """Sequence names of ``split`` from the root's split lists (train = complement of test without its own list)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown LaSOT split {split!r}; expected None or one of {sorted(SPLIT_FILES)}")
    listing = root / SPLIT_FILES[split]
    if listing.is_file():
        return _read_names(listing)
    if split == "train" and (root / REFERENCE_TRAIN_FILE).is_file():
        return _read_names(root / REFERENCE_TRAIN_FILE)
    test_list = root / SPLIT_FILES["test"]
    if split == "train" and test_list.is_file():
        test = set(_read_names(test_list))
        return [p.name for p in list_lasot_sequences(root) if p.name not in test]
    raise FileNotFoundError(f"{listing}: missing LaSOT split list for split {split!r} (one sequence name per line)")


def lasot_sequences(root: str | os.PathLike, split: str | None = None) -> list[Sequence]:
    """Sequences of a LaSOT root, sorted by class then number; ``split`` = None (all), "test" or "train"."""
    root = Path(root)
    if split is None:
        return [read_lasot(path) for path in list_lasot_sequences(root)]
    out = []
    for name in _split_names(root, split):
        class_name = name.rsplit("-", 1)[0]
        seq_dir = root / class_name / name
        if not seq_dir.is_dir():
            raise FileNotFoundError(f"{seq_dir}: missing folder of LaSOT sequence {name!r} (listed for {split!r})")
        out.append(read_lasot(seq_dir))
    return out
