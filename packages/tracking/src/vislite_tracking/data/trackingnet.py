"""TrackingNet reader: ``<root>/TRAIN_<i>/{frames/<seq>/<n>.jpg, anno/<seq>.txt}`` for chunks i = 0..11, and
``<root>/TEST/`` (same layout, only the first frame annotated).

Frames are numbered from 0 (``0.jpg, 1.jpg, ...``); ``anno/<seq>.txt`` holds one comma-separated ``x,y,w,h`` per
frame. As the reference trainer (OSTrack ``tracking_net.py``), a frame is visible when its box has w, h > 0.
Splits: "train" (default: all twelve chunks, as the reference trainer reads them), "test", or chosen chunks as a
comma-separated list of ``TRAIN_<i>``, ``<i>`` or ranges ``<i>-<j>`` (e.g. "0-3", "TRAIN_0,TRAIN_5").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vislite_common.data.formats import FormatError
from vislite_common.data.formats.errors import require_dir
from vislite_common.data.formats.text import check_length, read_boxes
from vislite_tracking.data.sequence import Sequence

NUM_CHUNKS = 12  # TRAIN_0 .. TRAIN_11
_CHUNK = re.compile(r"^(?:TRAIN_)?(\d+)(?:-(?:TRAIN_)?(\d+))?$")


def chunk_folders(split: str | None) -> list[str]:
    """Chunk folder names of ``split``: "train" / None -> TRAIN_0..TRAIN_11, "test" -> TEST, or a chunk list."""
    if split is None or split == "train":
        return [f"TRAIN_{i}" for i in range(NUM_CHUNKS)]
    if split.lower() == "test":
        return ["TEST"]
    chunks: list[int] = []
    for token in (t.strip() for t in split.split(",")):
        match = _CHUNK.match(token)
        first = int(match[1]) if match else -1
        last = int(match[2]) if match and match[2] is not None else first
        if match is None or not 0 <= first <= last < NUM_CHUNKS:
            raise ValueError(
                f"TrackingNet split {split!r}: {token!r} is not a chunk 0..{NUM_CHUNKS - 1} "
                "(expected 'train', 'test' or e.g. '0-3', 'TRAIN_0,TRAIN_5')"
            )
        chunks.extend(i for i in range(first, last + 1) if i not in chunks)
    return [f"TRAIN_{i}" for i in chunks]


def zero_based_frames(folder: Path, name: str) -> list[Path]:
    """Frames ``0.jpg, 1.jpg, ...`` of ``folder`` in order; FormatError naming the first missing one."""
    frames = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".jpg" and p.stem.isdigit()), key=lambda p: int(p.stem)
    )
    if not frames:
        raise FormatError(folder, f"no frames of sequence {name!r}; expected 0.jpg, 1.jpg, ...")
    for expected, frame in enumerate(frames):
        if int(frame.stem) != expected:
            raise FormatError(folder, f"sequence {name!r} misses frame {expected}.jpg (frames numbered from 0)")
    return frames


def read_trackingnet(chunk_dir: str | os.PathLike, name: str) -> Sequence:
    """Sequence ``name`` of a chunk folder (``TRAIN_<i>`` or ``TEST``).

    Raises FileNotFoundError for a missing annotation file or frame folder, and FormatError (naming the file and
    line or frame) for a malformed or NaN box, a gap in the frame numbers or a frame / box count mismatch. TEST
    sequences may carry only the first box: the later ones are NaN and not visible.
    """
    chunk_dir = Path(chunk_dir)
    anno = chunk_dir / "anno" / f"{name}.txt"
    boxes = read_boxes(anno, f"TrackingNet annotation of sequence {name!r}")
    frame_dir = chunk_dir / "frames" / name
    if not frame_dir.exists() and len(boxes) > 1:  # an annotation-only copy: one frame per box, numbered from 0
        frames = [frame_dir / f"{number}.jpg" for number in range(len(boxes))]
    else:
        frames = zero_based_frames(require_dir(frame_dir, f"TrackingNet frame folder of sequence {name!r}"), name)
    if chunk_dir.name == "TEST" and len(boxes) == 1:
        boxes = np.concatenate([boxes, np.full((len(frames) - 1, 4), np.nan)])  # [N, 4], withheld after frame 1
    check_length(anno, boxes, len(frames), "boxes")
    with np.errstate(invalid="ignore"):
        visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    return Sequence(name=name, dataset="trackingnet", frames=frames, boxes=boxes, visible=visible)


def trackingnet_sequences(root: str | os.PathLike, split: str | None = None) -> list[Sequence]:
    """Sequences of the chunks of ``split`` (see the module doc), chunk by chunk, sorted by name within a chunk."""
    root = require_dir(Path(root), "TrackingNet root")
    out = []
    for chunk in chunk_folders(split):
        anno_dir = root / chunk / "anno"
        if not anno_dir.is_dir():
            raise FileNotFoundError(
                f"{anno_dir}: missing TrackingNet chunk {chunk} (split {split!r}); "
                "select the chunks present with e.g. split='0-3'"
            )
        names = sorted(p.stem for p in anno_dir.iterdir() if p.suffix == ".txt")
        if not names:
            raise FormatError(anno_dir, "no annotation files; expected <seq>.txt with one x,y,w,h line per frame")
        out.extend(read_trackingnet(root / chunk, name) for name in names)
    return out
