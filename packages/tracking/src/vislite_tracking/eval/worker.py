"""Tracking one sequence: what an OPE worker process runs. It imports only NumPy and OpenCV, so spawned
workers start fast; the parent process writes the results."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np

from vislite_tracking.data.frames import read_frame
from vislite_tracking.data.sequence import Sequence
from vislite_tracking.eval.protocol import Tracker
from vislite_tracking.eval.records import Run


def _check_box(box: object, name: str, frame: int) -> tuple[float, float, float, float]:
    values = tuple(float(v) for v in box)  # type: ignore[union-attr]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"sequence {name!r} frame {frame}: tracker returned {box!r}, expected finite (x, y, w, h)")
    return values  # type: ignore[return-value]


def track_sequence(tracker: Tracker, seq: Sequence) -> Run:
    """Run ``tracker`` over ``seq``: (N, 4) boxes (frame 1 = the annotated box) and (N,) seconds per frame
    (frame 1: the ``initialize`` call)."""
    init_box = _check_box(seq.boxes[0], seq.name, 1)
    boxes = np.empty((len(seq), 4))
    times = np.empty(len(seq))
    image = read_frame(seq.frames[0])
    start = time.perf_counter()
    tracker.initialize(image, init_box)
    times[0] = time.perf_counter() - start
    boxes[0] = init_box
    for i in range(1, len(seq)):
        image = read_frame(seq.frames[i])
        start = time.perf_counter()
        box = tracker.track(image)
        times[i] = time.perf_counter() - start
        boxes[i] = _check_box(box, seq.name, i + 1)
    return Run(boxes=boxes, times=times)


def track_job(job: tuple[Callable[[], Tracker], Sequence, int | None]) -> tuple[Sequence, Run]:
    """Build a fresh tracker and track one sequence; ``threads`` (if given) caps torch's intra-op threads
    when the tracker uses torch (torch is not imported for trackers that do not)."""
    make_tracker, seq, threads = job
    tracker = make_tracker()
    if threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return seq, track_sequence(tracker, seq)
