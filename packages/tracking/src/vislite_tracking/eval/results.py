"""Tracking results on disk, in the pytracking layout: ``<dir>/<seq>.txt`` (one ``x y w h`` per frame, tab-
separated) and ``<dir>/<seq>_time.txt`` (seconds per frame). Reading also accepts got10k-toolkit's layouts:
``<dir>/times/<seq>_time.txt`` (OTB / LaSOT) and ``<dir>/<seq>/<seq>_001.txt ...`` with ``<seq>_time.txt``
(GOT-10k repetitions, comma-separated).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vislite_common.data.formats import FormatError
from vislite_common.fileio import atomic_write_text
from vislite_tracking.eval.records import Run

_SEPARATORS = re.compile(r"[,\s]+")


def format_boxes(boxes: np.ndarray, *, integer_boxes: bool = True) -> str:
    """Tab-separated lines; ``integer_boxes`` truncates to int as the reference runners' ``fmt='%d'`` does."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if integer_boxes:
        return "".join("\t".join(str(int(v)) for v in row) + "\n" for row in boxes)
    return "".join("\t".join(f"{v:.4f}" for v in row) + "\n" for row in boxes)


def write_results(results_dir: str | os.PathLike, name: str, run: Run, *, integer_boxes: bool = True) -> Path:
    """Write ``<results_dir>/<name>.txt`` (and ``<name>_time.txt`` if timed) atomically; returns the box file."""
    path = Path(results_dir) / f"{name}.txt"
    atomic_write_text(path, format_boxes(run.boxes, integer_boxes=integer_boxes))
    if run.times is not None:
        atomic_write_text(path.with_name(f"{name}_time.txt"), "".join(f"{t:.6f}\n" for t in run.times))
    return path


def _read_text(path: Path, expected: str) -> str:
    """UTF-8 text of a results file; a binary or non-UTF-8 file is a FormatError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problem = f"is not a text file (byte {error.start}: {error.reason}); expected {expected}"
        raise FormatError(path, problem) from None


def read_result_boxes(path: Path) -> np.ndarray:
    """(N, 4) boxes of a result file (tab, comma or space separated); FormatError naming the line otherwise."""
    rows = []
    for number, line in enumerate(_read_text(path, "one 'x y w h' line per frame").splitlines(), start=1):
        values = [v for v in _SEPARATORS.split(line.strip()) if v]
        if not values:
            continue
        try:
            row = [float(v) for v in values]
        except ValueError:
            raise FormatError(path, f"line {number}: {line.strip()!r} is not 4 numbers (x, y, w, h)") from None
        if len(row) != 4:
            raise FormatError(path, f"line {number} has {len(row)} values, expected 4 (x, y, w, h)")
        if not np.isfinite(row).all() or row[2] < 0 or row[3] < 0:
            raise FormatError(path, f"line {number}: {row} has a NaN/inf value or a negative width/height")
        rows.append(row)
    if not rows:
        raise FormatError(path, "no boxes; expected one 'x y w h' line per frame")
    return np.asarray(rows, dtype=np.float64)


def read_times(path: Path) -> np.ndarray:
    """All numbers of a timing file (one per frame; several comma-separated columns for repetitions)."""
    values = [v for v in _SEPARATORS.split(_read_text(path, "seconds per frame, one number per line")) if v]
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        raise FormatError(path, "expected seconds per frame, one number per line") from None


def _first_file(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def load_runs(results_dir: str | os.PathLike, name: str) -> list[Run]:
    """Every run stored for sequence ``name`` (one in the pytracking layout, 1..k for GOT-10k repetitions)."""
    root = Path(results_dir)
    single = root / f"{name}.txt"
    if single.is_file():
        time_file = _first_file(root / f"{name}_time.txt", root / "times" / f"{name}_time.txt")
        return [Run(read_result_boxes(single), read_times(time_file) if time_file else None)]
    repeats = sorted((root / name).glob(f"{name}_[0-9][0-9][0-9].txt")) if (root / name).is_dir() else []
    if not repeats:
        raise FileNotFoundError(f"{single}: missing results of sequence {name!r} (or {root / name}/{name}_001.txt)")
    time_file = _first_file(root / name / f"{name}_time.txt")
    times = read_times(time_file) if time_file else None
    return [Run(read_result_boxes(p), times) for p in repeats]


def frames_per_second(times: np.ndarray | None) -> float | None:
    """Mean of 1 / t over the positive, finite frame times (got10k-toolkit's speed); None without any."""
    if times is None:
        return None
    times = times[np.isfinite(times) & (times > 0)]
    return float(np.mean(1.0 / times)) if times.size else None
