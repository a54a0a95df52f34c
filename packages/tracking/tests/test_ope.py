"""The OPE runner and the results layout: files written, parallel runs equal serial ones, results read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vislite_common.data.formats import FormatError
from vislite_common.data.world import make_lasot
from vislite_tracking.data import Sequence, load_sequences
from vislite_tracking.eval import (
    FirstFrameTracker,
    Run,
    Tracker,
    evaluate,
    load_runs,
    pytracking,
    run_ope,
    track_sequence,
)

FRAMES = 6


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> list[Sequence]:
    root = make_lasot(tmp_path_factory.mktemp("lasot"), num_sequences=3, num_frames=FRAMES, frame_size=(64, 48))
    return load_sequences("lasot", root)


class _NanTracker:
    def initialize(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        self.shape = image.shape

    def track(self, image: np.ndarray) -> tuple[float, float, float, float]:
        return (float("nan"), 0.0, 1.0, 1.0)


def test_track_sequence_starts_from_the_annotated_box(sequences: list[Sequence]) -> None:
    seq = sequences[0]
    tracker = FirstFrameTracker()
    assert isinstance(tracker, Tracker)
    run = track_sequence(tracker, seq)
    assert run.boxes.shape == (FRAMES, 4) and np.array_equal(run.boxes, np.tile(seq.boxes[0], (FRAMES, 1)))
    assert run.times.shape == (FRAMES,) and (run.times >= 0).all()
    with pytest.raises(ValueError, match=rf"sequence '{seq.name}' frame 2: tracker returned"):
        track_sequence(_NanTracker(), seq)


def test_run_ope_writes_the_pytracking_layout_and_evaluates(sequences: list[Sequence], tmp_path: Path) -> None:
    out = run_ope(FirstFrameTracker, sequences, tmp_path / "ff", progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{s.name}{suffix}" for s in sequences for suffix in (".txt", "_time.txt")
    )
    seq = sequences[0]
    lines = (out / f"{seq.name}.txt").read_text().splitlines()
    assert len(lines) == FRAMES and lines[0] == "\t".join(str(int(v)) for v in seq.boxes[0])
    assert len((out / f"{seq.name}_time.txt").read_text().split()) == FRAMES
    result = evaluate(sequences, out, dataset="lasot")
    for s in sequences:  # the same numbers as scoring the known boxes directly
        boxes = np.tile(np.trunc(s.boxes[0]), (len(s), 1))
        errors = pytracking.frame_errors(boxes, s.boxes, dataset="lasot", name=s.name, visible=s.visible)
        expected = pytracking.scores(pytracking.sequence_curves(errors))
        assert result["sequences"][s.name]["auc"] == pytest.approx(expected["auc"])
        assert result["sequences"][s.name]["fps"] > 0
    assert 0 < result["auc"] < 100 * 20 / 21


def test_parallel_run_matches_serial_and_skips_existing(sequences: list[Sequence], tmp_path: Path) -> None:
    serial = run_ope(FirstFrameTracker, sequences, tmp_path / "serial", progress=False, integer_boxes=False)
    parallel = run_ope(
        FirstFrameTracker, sequences, tmp_path / "parallel", workers=2, progress=False, integer_boxes=False
    )
    for s in sequences:
        assert (serial / f"{s.name}.txt").read_text() == (parallel / f"{s.name}.txt").read_text()
    with pytest.raises(TypeError, match="module-level function or class"):
        run_ope(lambda: FirstFrameTracker(), sequences, tmp_path / "lambda", workers=2, progress=False)
    marker = serial / f"{sequences[0].name}.txt"
    marker.write_text("1\t1\t1\t1\n" * FRAMES)
    run_ope(_NanTracker, sequences[:1], serial, progress=False, skip_existing=True)  # would fail if it ran
    assert marker.read_text() == "1\t1\t1\t1\n" * FRAMES


def test_results_reading_layouts_and_errors(tmp_path: Path) -> None:
    boxes = np.array([[1.0, 2.0, 3.0, 4.0]] * 3)
    (tmp_path / "a.txt").write_text("1,2,3,4\n1\t2\t3\t4\n1 2 3 4\n")
    (tmp_path / "times").mkdir()
    (tmp_path / "times" / "a_time.txt").write_text("0.5\n0.25\n0\n")
    (run,) = load_runs(tmp_path, "a")
    assert np.array_equal(run.boxes, boxes) and run.times.tolist() == [0.5, 0.25, 0.0]
    rep = tmp_path / "b"
    rep.mkdir()
    for k in (1, 2):
        (rep / f"b_00{k}.txt").write_text("1,2,3,4\n" * 3)
    (rep / "b_time.txt").write_text("0.1,0.2\n0.1,0.2\n0.1,0.2\n")
    runs = load_runs(tmp_path, "b")
    assert len(runs) == 2 and all(isinstance(r, Run) and r.times.size == 6 for r in runs)
    (tmp_path / "c.txt").write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(FormatError, match="c.txt: line 2 has 3 values"):
        load_runs(tmp_path, "c")
    (tmp_path / "d.txt").write_text("1,2,3,4\n1,2,-3,4\n")
    with pytest.raises(FormatError, match="line 2"):
        load_runs(tmp_path, "d")
    with pytest.raises(FileNotFoundError, match="missing results of sequence 'e'"):
        load_runs(tmp_path, "e")
