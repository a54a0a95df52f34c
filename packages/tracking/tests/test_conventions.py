"""Where pytracking and OSTrack's copy of it differ (ground truth at x = 0 or y = 0), and how each convention
treats results whose length differs from the ground truth; expected numbers computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vislite_tracking.data import Sequence
from vislite_tracking.eval import (
    EvaluationError,
    LengthMismatchWarning,
    Run,
    evaluate,
    got10k_toolkit,
    pytracking,
    write_results,
)
from vislite_tracking.eval.cli import main

# frame 1 inside; frames 2 and 3 touch the left (and top) border; frame 4 inside
BORDER_GT = np.array([[10, 10, 20, 20], [0, 10, 20, 20], [0, 0, 10, 10], [30, 30, 10, 10]], dtype=np.float64)
# perfect on frames 1, 2, 4; frame 3 moved 5 px right: pixel IoU 5*10 / (100 + 100 - 50) = 1/3, centre error 5 px
BORDER_PRED = np.array([[10, 10, 20, 20], [0, 10, 20, 20], [5, 0, 10, 10], [30, 30, 10, 10]], dtype=np.float64)


def _sequence(name: str, gt: np.ndarray) -> Sequence:
    n = len(gt)
    frames = [Path(f"{i + 1:04d}.jpg") for i in range(n)]
    return Sequence(name=name, dataset="otb", frames=frames, boxes=gt, visible=np.ones(n, dtype=bool))


def test_validity_rules() -> None:
    assert pytracking.valid_ground_truth(BORDER_GT, "pytracking").tolist() == [True, False, False, True]
    assert pytracking.valid_ground_truth(BORDER_GT, "ostrack").tolist() == [True, True, True, True]
    with pytest.raises(ValueError, match="validity rule"):
        pytracking.valid_ground_truth(BORDER_GT, "vot")


def test_border_boxes_give_different_auc_under_pytracking_and_ostrack(tmp_path: Path) -> None:
    write_results(tmp_path, "border", Run(BORDER_PRED.copy(), None), integer_boxes=False)
    seqs = [_sequence("border", BORDER_GT)]
    pyt = evaluate(seqs, tmp_path, dataset="otb", convention="pytracking")
    ost = evaluate(seqs, tmp_path, dataset="otb", convention="ostrack")
    # pytracking: frames 2, 3 invalid (IoU -1, centre +inf, normalised -1); frames 1, 4 pass 20 of 21 thresholds
    assert pyt["auc"] == pytest.approx(100 * (2 / 4) * 20 / 21)  # 47.62
    assert pyt["precision"] == pytest.approx(50.0)
    assert pyt["norm_precision"] == pytest.approx(100.0)  # -1 on the invalid frames passes
    # ostrack: all valid; IoUs 1, 1, 1/3, 1: thresholds 0..0.30 (7) all 4 frames, 0.35..0.95 (13) 3 frames, 1.0 none
    assert ost["auc"] == pytest.approx(100 * (7 * 1 + 13 * 0.75) / 21)  # 79.76
    assert ost["precision"] == pytest.approx(100.0)  # 5 px <= 20 px
    assert ost["norm_precision"] == pytest.approx(75.0)  # frame 3: 5 / 10 = 0.5 > 0.2
    assert (pyt["convention"], ost["convention"]) == ("pytracking", "ostrack")


def test_ostrack_convention_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "otb" / "Border"
    (root / "img").mkdir(parents=True)
    for i in range(1, 5):
        (root / "img" / f"{i:04d}.jpg").touch()
    (root / "groundtruth_rect.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in BORDER_GT))
    results = tmp_path / "results"
    write_results(results, "Border", Run(BORDER_PRED.copy(), None))
    aucs = {}
    for convention in ("pytracking", "ostrack"):
        out = tmp_path / f"{convention}.json"
        main(["--dataset", "otb", "--root", str(root.parent), "--results", str(results), "--convention", convention,
              "--json", str(out)])  # fmt: skip
        aucs[convention] = json.loads(out.read_text())["auc"]
    assert aucs == pytest.approx({"pytracking": 100 * 10 / 21, "ostrack": 100 * 16.75 / 21})
    assert "ostrack convention" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ lengths
def _constant(n: int) -> np.ndarray:
    return np.tile([10.0, 10.0, 20.0, 20.0], (n, 1))  # [n, 4]


def test_got10k_cuts_a_short_prediction_and_the_ground_truth_with_a_warning() -> None:
    gt = _constant(10)
    pred = _constant(7)
    pred[4, 0] += 6.5  # IoU 13.5*20 / (800 - 270) = 0.509: passes 11 of 21 thresholds
    with pytest.warns(LengthMismatchWarning, match="'seq': 7 predicted boxes for 10.*first 7"):
        scores = got10k_toolkit.scores(got10k_toolkit.sequence_curves(pred, gt, name="seq"))
    assert scores["auc"] == pytest.approx(100 * (6 * 20 + 11) / (21 * 7))  # denominator 7, not 10
    with pytest.warns(LengthMismatchWarning, match="padding"):  # pytracking pads with zero boxes instead
        errors = pytracking.frame_errors(pred, gt, dataset="otb", name="seq")
    assert pytracking.scores(pytracking.sequence_curves(errors))["auc"] == pytest.approx(100 * (6 * 20 + 11) / 210)
    with pytest.raises(EvaluationError, match="7 predicted boxes for 10"):  # pytracking on LaSOT refuses
        pytracking.frame_errors(pred, gt, dataset="lasot", name="seq", visible=np.ones(10, dtype=bool))


def test_got10k_ao_still_refuses_a_length_mismatch() -> None:
    with pytest.raises(EvaluationError, match="9 predicted boxes for 10"):
        got10k_toolkit.got10k_frame_ious(
            _constant(9), _constant(10), cover=np.full(10, 8), frame_size=(99, 99), name="s"
        )


def test_length_warnings_are_reported_by_evaluate_and_the_cli(tmp_path: Path, capsys) -> None:
    root = tmp_path / "otb"
    for name, frames in (("Long", 6), ("Exact", 6)):
        (root / name / "img").mkdir(parents=True)
        for i in range(1, frames + 1):
            (root / name / "img" / f"{i:04d}.jpg").touch()
        (root / name / "groundtruth_rect.txt").write_text("10,10,20,20\n" * frames)
    results = tmp_path / "results"
    write_results(results, "Long", Run(_constant(8), None))  # two boxes past the last frame
    write_results(results, "Exact", Run(_constant(6), None))
    out = tmp_path / "scores.json"
    with pytest.warns(LengthMismatchWarning, match="'Long': 8 predicted boxes for 6"):
        main(["--dataset", "otb", "--root", str(root), "--results", str(results), "--convention", "got10k",
              "--json", str(out)])  # fmt: skip
    scores = json.loads(out.read_text())
    assert scores["auc"] == pytest.approx(100 * 20 / 21)
    assert len(scores["warnings"]) == 1 and "'Long'" in scores["warnings"][0]
    assert "warnings" in scores["sequences"]["Long"] and "warnings" not in scores["sequences"]["Exact"]
    assert "warning (results): sequence 'Long'" in capsys.readouterr().out
