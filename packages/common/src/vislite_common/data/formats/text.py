"""Parsers for the small text files of tracking datasets (box tables and per-frame flag lists)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vislite_common.data.formats.errors import FormatError, require_file

_SEPARATORS = re.compile(r"[,\s]+")


def _values(line: str) -> list[str]:
    return [v for v in _SEPARATORS.split(line.strip()) if v]


def read_boxes(path: Path, what: str = "groundtruth") -> np.ndarray:
    """(N, 4) float64 boxes ``x, y, w, h`` from ``path``: one box per line, comma (or tab / space) separated.

    Raises FileNotFoundError if the file is missing and FormatError for a line without exactly 4 numbers,
    a non-numeric value, a negative width/height, or an empty file.
    """
    require_file(path, f"{what} file (one 'x,y,w,h' box per line)")
    rows: list[list[float]] = []
    numbers: list[int] = []  # file line number of each row
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        values = _values(line)
        if len(values) != 4:
            raise FormatError(path, f"line {number} has {len(values)} values {values!r}, expected 4 (x,y,w,h)")
        try:
            rows.append([float(v) for v in values])
            numbers.append(number)
        except ValueError:
            raise FormatError(path, f"line {number}: {line.strip()!r} is not 4 numbers (x,y,w,h)") from None
    if not rows:
        raise FormatError(path, "no boxes; expected one 'x,y,w,h' line per frame")
    boxes = np.asarray(rows, dtype=np.float64)  # (N, 4)
    bad = np.nonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0) | ~np.isfinite(boxes).all(axis=1))[0]
    if bad.size:
        row = int(bad[0])
        raise FormatError(path, f"line {numbers[row]} has a negative or non-finite value: {boxes[row].tolist()}")
    return boxes


def read_labels(path: Path, allowed: range, what: str) -> np.ndarray:
    """(N,) int64 per-frame labels from ``path``, separated by commas and/or newlines, each in ``allowed``.

    Raises FileNotFoundError if the file is missing and FormatError for a non-integer or out-of-range value.
    """
    require_file(path, what)
    values = _values(path.read_text(encoding="utf-8"))
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not number.is_integer() or int(number) not in allowed:
            lo, hi = allowed.start, allowed.stop - 1
            raise FormatError(path, f"value #{i + 1} is {value!r}, expected an integer in {lo}..{hi}")
        out[i] = int(number)
    return out


def check_length(path: Path, values: np.ndarray, expected: int, unit: str) -> None:
    """FormatError unless ``values`` has ``expected`` entries (one per frame)."""
    if len(values) != expected:
        raise FormatError(path, f"has {len(values)} {unit} but the sequence has {expected} frames")
