"""Tracking results files: binary, malformed or mis-sized files give messages naming the file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vislite_common.data.formats import FormatError
from vislite_tracking.eval import pysot_toolkit, pytracking
from vislite_tracking.eval.curves import LengthMismatchWarning
from vislite_tracking.eval.results import load_runs, read_result_boxes, read_times

GT = np.tile(np.array([10.0, 10.0, 20.0, 20.0]), (10, 1))  # [10, 4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00", r"seq\.txt: is not a text file .*expected one 'x y w h' line"),
        (b"1\t2\t3\t4\nfoo\tbar\t1\t2\n", r"seq\.txt: line 2: 'foo\\tbar\\t1\\t2' is not 4 numbers"),
        (b"1,2,3,4\n1,2,3\n", r"seq\.txt: line 2 has 3 values, expected 4"),
        (b"1 2 3 4\nnan 2 3 4\n", r"seq\.txt: line 2: .* NaN/inf value or a negative width/height"),
        (b"1 2 -3 4\n", r"seq\.txt: line 1: .* negative width/height"),
        (b"\n\n", r"seq\.txt: no boxes"),
    ],
)
def test_bad_box_files_name_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "seq.txt"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message):
        read_result_boxes(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe\x00\x01", r"seq_time\.txt: is not a text file"), (b"0.1\nfast\n", r"seq_time\.txt: expected seconds")],
)
def test_bad_time_files_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "seq_time.txt"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message):
        read_times(path)


def test_missing_results_name_the_sequence(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"seq\.txt: missing results of sequence 'seq'"):
        load_runs(tmp_path, "seq")


def test_longer_results_warn_under_pytracking(tmp_path: Path) -> None:
    pred = np.tile(GT[:1], (12, 1))  # 12 boxes for 10 frames
    with pytest.warns(LengthMismatchWarning, match=r"'seq': 12 predicted boxes for 10 frames; the last 2 are ignored"):
        pytracking.frame_errors(pred, GT, dataset="otb", name="seq")


def test_longer_results_warn_under_pysot(tmp_path: Path) -> None:
    pred = np.tile(GT[:1], (13, 1))
    with pytest.warns(LengthMismatchWarning, match=r"'seq': 13 predicted boxes for 10 frames; the last 3 are ignored"):
        pysot_toolkit.sequence_curves(pred, GT, name="seq")
