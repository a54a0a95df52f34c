"""Metric conventions on hand-built sequences: pytracking vs got10k-toolkit, each checked against hand-computed
values (perfect tracker, constant offset, zero-size boxes, occluded frames, GOT-10k AO/SR)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vislite_tracking.data import Sequence
from vislite_tracking.eval import (
    EvaluationError,
    LengthMismatchWarning,
    Run,
    evaluate,
    got10k_toolkit,
    pysot_toolkit,
    pytracking,
    write_results,
)
from vislite_tracking.eval.boxes import got10k_iou, pytracking_iou

N = 10
GT_BOX = (10.0, 10.0, 20.0, 20.0)


def _constant(box: tuple[float, ...] = GT_BOX, n: int = N) -> np.ndarray:
    return np.tile(np.asarray(box, dtype=np.float64), (n, 1))  # [n, 4]


def _shifted(dx: float, n: int = N) -> np.ndarray:
    pred = _constant(n=n)
    pred[:, 0] += dx
    return pred


def _pyt(
    pred: np.ndarray, gt: np.ndarray, dataset: str = "otb", visible: np.ndarray | None = None, rule: str = "pytracking"
) -> dict:
    errors = pytracking.frame_errors(pred, gt, dataset=dataset, name="seq", visible=visible, rule=rule)
    return pytracking.scores(pytracking.sequence_curves(errors))


def _got(pred: np.ndarray, gt: np.ndarray) -> dict:
    return got10k_toolkit.scores(got10k_toolkit.sequence_curves(pred, gt, name="seq"))


def _pysot(pred: np.ndarray, gt: np.ndarray, present: np.ndarray | None = None) -> dict:
    return pysot_toolkit.scores(pysot_toolkit.sequence_curves(pred, gt, name="seq", present=present))


# ------------------------------------------------------------------------------------------------ thresholds
def test_threshold_sets_match_the_toolkits() -> None:
    assert len(pytracking.THRESHOLDS.overlap) == 21
    assert np.array_equal(pytracking.THRESHOLDS.overlap, torch.arange(0.0, 1.05, 0.05, dtype=torch.float64).numpy())
    assert pytracking.THRESHOLDS.center[20] == 20.0 and len(pytracking.THRESHOLDS.center) == 51
    assert pytracking.THRESHOLDS.norm_center[20] == pytest.approx(0.2) and pytracking.THRESHOLDS.norm_center[-1] == 0.5
    assert np.array_equal(got10k_toolkit.THRESHOLDS.overlap, np.linspace(0, 1, 21))
    assert np.array_equal(got10k_toolkit.THRESHOLDS.norm_center, np.linspace(0, 0.5, 51))


def test_iou_formulas_agree_on_areas_and_differ_on_empty_unions() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 10.0, 10.0], [9.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.5, 10.0]])
    expected = [50 / 150, 10 / 190, 100 / 105]  # inclusive pixel corners and continuous edges give equal areas
    assert pytracking_iou(a, b) == pytest.approx(expected)
    assert got10k_iou(a, b) == pytest.approx(expected)
    empty = np.zeros((1, 4))
    assert np.isnan(pytracking_iou(empty, empty)[0])  # pytracking: 0 / 0, rejected by its NaN check
    assert got10k_iou(empty, empty)[0] == 0.0  # got10k: eps in the union


# ------------------------------------------------------------------------------------------- perfect tracker
def test_perfect_tracker_reaches_20_of_21_not_100() -> None:
    gt = _constant()
    for result in (_pyt(gt.copy(), gt), _got(gt.copy(), gt), _pysot(gt.copy(), gt)):
        assert result["auc"] == pytest.approx(100 * 20 / 21)  # IoU 1.0 never passes "> 1.0"
        assert result["precision"] == pytest.approx(100.0)
        assert result["norm_precision"] == pytest.approx(100.0)
        assert result["op50"] == pytest.approx(100.0) and result["op75"] == pytest.approx(100.0)


# ------------------------------------------------------------------------------------------- constant offset
def test_constant_offset_hand_computed() -> None:
    gt = _constant()
    pred = _shifted(6.5)  # IoU 13.5*20 / (800 - 270) = 0.5094 in both conventions, centre error 6.5 px
    expected_auc = 100 * ((N - 1) * 11 + 20) / (21 * N)  # frame 1 is replaced by the ground truth
    pyt, got = _pyt(pred, gt), _got(pred, gt)
    assert pyt["auc"] == pytest.approx(expected_auc)
    assert got["auc"] == pytest.approx(expected_auc)
    assert pyt["precision"] == pytest.approx(100.0) and got["precision"] == pytest.approx(100.0)
    assert pyt["op50"] == pytest.approx(100.0) and pyt["op75"] == pytest.approx(100.0 / N)
    # normalised error 6.5 / 20 = 0.325: pytracking reads the curve at 0.20 (fails but frame 1),
    # got10k averages it over 0..0.50 (passes 0.33..0.50 = 18 of 51 thresholds)
    assert pyt["norm_precision"] == pytest.approx(100.0 / N)
    assert got["norm_precision"] == pytest.approx(100 * ((N - 1) * 18 + 51) / (51 * N))


def test_precision_threshold_is_inclusive_at_20_px() -> None:
    gt = _constant()
    assert _pyt(_shifted(20.0), gt)["precision"] == pytest.approx(100.0)
    assert _pyt(_shifted(20.5), gt)["precision"] == pytest.approx(100.0 / N)
    assert _got(_shifted(20.0), gt)["precision"] == pytest.approx(100.0)


# ---------------------------------------------------------------------------------------------- zero sizes
def test_zero_size_prediction_takes_previous_box_in_pytracking_only() -> None:
    gt = _constant()
    pred = gt.copy()
    pred[4, 2:] = 0.0  # the tracker lost the target on frame 5
    assert _pyt(pred, gt)["auc"] == pytest.approx(100 * 20 / 21)  # replaced by frame 4's (perfect) box
    got = _got(pred, gt)
    assert got["auc"] == pytest.approx(100 * 20 / 21 * (N - 1) / N)  # IoU 0 on that frame


def test_zero_size_ground_truth_is_invalid_but_counted() -> None:
    gt = _constant()
    gt[[3, 7], 2:] = 0.0
    pred = _constant()
    pyt = _pyt(pred, gt)
    assert pyt["auc"] == pytest.approx(100 * 20 / 21 * (N - 2) / N)  # IoU -1, still in the denominator
    assert pyt["precision"] == pytest.approx(100 * (N - 2) / N)  # centre error +inf
    assert pyt["norm_precision"] == pytest.approx(100.0)  # normalised error -1 passes (the original's quirk)
    got = _got(pred, gt)
    assert got["auc"] == pytest.approx(100 * 20 / 21 * (N - 2) / N)  # zero-area ground truth: IoU 0


# ------------------------------------------------------------------------------------------------ occlusion
def test_lasot_occluded_frames_fail_in_pytracking_and_count_in_got10k() -> None:
    gt = _constant()
    visible = np.ones(N, dtype=bool)
    visible[5:8] = False
    pred = gt.copy()  # perfect boxes, even on the invisible frames
    pyt = _pyt(pred, gt, dataset="lasot", visible=visible)
    assert pyt["auc"] == pytest.approx(100 * 20 / 21 * (N - 3) / N)
    assert pyt["precision"] == pytest.approx(100 * (N - 3) / N)
    assert pyt["norm_precision"] == pytest.approx(100 * (N - 3) / N)  # +inf on LaSOT, unlike the -1 elsewhere
    assert _got(pred, gt)["auc"] == pytest.approx(100 * 20 / 21)  # got10k ignores LaSOT's flags


def test_visibility_is_ignored_outside_lasot_in_pytracking() -> None:
    gt = _constant()
    errors = pytracking.frame_errors(gt.copy(), gt, dataset="otb", name="s", visible=None)
    assert errors.valid.all()


# ------------------------------------------------------------------------------------------ lengths and NaN
def test_length_rules() -> None:
    gt = _constant()
    with pytest.raises(EvaluationError, match="'seq'.*9 predicted boxes for 10"):
        _pyt(gt[:9], gt, dataset="lasot")
    with pytest.warns(UserWarning, match="padding"):
        padded = _pyt(gt[:9].copy(), gt, dataset="otb")
    assert padded["auc"] == pytest.approx(100 * 20 / 21 * (N - 1) / N)
    longer = np.concatenate([gt, gt[:2]])
    assert _pyt(longer, gt, dataset="lasot")["auc"] == pytest.approx(100 * 20 / 21)  # truncated (monkey-17)
    with pytest.warns(LengthMismatchWarning, match="12 predicted boxes for 10.*cut to the first 10"):
        assert _got(longer, gt)["auc"] == pytest.approx(100 * 20 / 21)  # got10k-toolkit cuts, warns, goes on


def test_nan_prediction_and_nan_ground_truth() -> None:
    gt = _constant()
    pred = gt.copy()
    pred[3, 0] = np.nan
    with pytest.raises(EvaluationError, match="NaN"):
        _pyt(pred, gt)
    gt_nan = gt.copy()
    gt_nan[2] = np.nan
    with pytest.raises(EvaluationError, match="NaN in the ground truth"):
        _pyt(gt.copy(), gt_nan)
    # got10k-toolkit drops NaN ground-truth frames from numerator and denominator
    assert _got(gt.copy(), gt_nan)["auc"] == pytest.approx(100 * 20 / 21)


# ------------------------------------------------------------------------------------------------ pysot
def test_pysot_keeps_frame_one_and_invalidates_boxes_touching_zero() -> None:
    gt = _constant()
    pred = gt.copy()
    pred[0] = (100.0, 100.0, 5.0, 5.0)  # a wrong first box is scored (no replacement by the ground truth)
    assert _pysot(pred, gt)["auc"] == pytest.approx(100 * 20 / 21 * (N - 1) / N)
    assert _pyt(pred, gt)["auc"] == pytest.approx(100 * 20 / 21)
    at_border = _constant((0.0, 10.0, 20.0, 20.0))  # x = 0: any ground-truth value <= 0 makes the frame invalid
    assert _pysot(at_border.copy(), at_border)["auc"] == pytest.approx(0.0)
    outside = _constant((-30.0, 10.0, 20.0, 20.0))  # centre x < 0: distance -1 passes every threshold
    assert _pysot(_constant(), outside)["precision"] == pytest.approx(100.0)
    assert _pyt(_constant(), outside)["precision"] == pytest.approx(0.0)  # x < 0: invalid, error +inf
    assert _pyt(_constant(), outside, rule="ostrack")["precision"] == pytest.approx(100.0 / N)  # valid: frame 1


def test_pysot_drops_absent_lasot_frames_but_keeps_the_full_denominator() -> None:
    gt = _constant()
    present = np.ones(N, dtype=bool)
    present[5:8] = False
    scores = _pysot(gt.copy(), gt, present=present)
    assert scores["auc"] == pytest.approx(100 * 20 / 21 * (N - 3) / N)
    assert scores["precision"] == pytest.approx(100 * (N - 3) / N)
    assert scores["norm_precision"] == pytest.approx(100 * (N - 3) / N)
    with pytest.raises(EvaluationError, match="9 predicted boxes for 10"):
        _pysot(gt[:9], gt)


# ------------------------------------------------------------------------------------------ GOT-10k AO / SR
def test_got10k_ao_is_frame_weighted_skips_frame_one_and_uncovered_frames() -> None:
    gt = _constant()
    pred = gt.copy()
    pred[0] = (60.0, 60.0, 5.0, 5.0)  # frame 1 is never scored
    pred[1:4] = (20.0, 10.0, 20.0, 20.0)  # IoU 1/3 (continuous rectangles)
    cover = np.full(N, 8)
    cover[8:] = 0  # fully occluded: excluded
    ious = got10k_toolkit.got10k_frame_ious(pred, gt, cover=cover, frame_size=(100, 100), name="a")
    assert ious.shape == (7,)
    assert ious[:3] == pytest.approx([1 / 3] * 3) and ious[3:] == pytest.approx([1.0] * 4)
    short = got10k_toolkit.got10k_frame_ious(gt[:3], gt[:3], cover=np.full(3, 8), frame_size=(100, 100), name="b")
    scores = got10k_toolkit.ao_sr(np.concatenate([ious, short]))
    assert scores["ao"] == pytest.approx(100 * (3 / 3 + 4 + 2) / 9)  # frames, not sequences, are averaged
    assert scores["sr50"] == pytest.approx(100 * 6 / 9) and scores["sr75"] == pytest.approx(100 * 6 / 9)


def test_got10k_clips_boxes_to_the_image() -> None:
    gt = np.array([[0.0, 0.0, 1.0, 1.0], [90.0, 10.0, 20.0, 20.0]])
    pred = np.array([[0.0, 0.0, 1.0, 1.0], [90.0, 10.0, 10.0, 20.0]])  # the in-image half of the target
    assert got10k_iou(pred[1:], gt[1:])[0] == pytest.approx(0.5)
    ious = got10k_toolkit.got10k_frame_ious(pred, gt, cover=np.array([8, 8]), frame_size=(100, 100), name="c")
    assert ious[0] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------- evaluate, end to end
def _sequence(name: str, gt: np.ndarray, dataset: str, visible: np.ndarray | None = None) -> Sequence:
    n = len(gt)
    return Sequence(
        name=name,
        dataset=dataset,
        frames=[Path(f"{i + 1:08d}.jpg") for i in range(n)],
        boxes=gt,
        visible=np.ones(n, dtype=bool) if visible is None else visible,
        cover=np.full(n, 8),
        frame_size=(100, 100),
    )


def test_evaluate_averages_sequences_and_reports_per_sequence(tmp_path: Path) -> None:
    gt = _constant()
    seqs = [_sequence("perfect", gt, "otb"), _sequence("offset", gt, "otb")]
    write_results(tmp_path, "perfect", Run(gt.copy(), np.full(N, 0.01)), integer_boxes=False)
    write_results(tmp_path, "offset", Run(_shifted(6.5), np.full(N, 0.02)), integer_boxes=False)
    result = evaluate(seqs, tmp_path, dataset="otb")
    per = result["sequences"]
    assert per["perfect"]["auc"] == pytest.approx(100 * 20 / 21)
    assert per["offset"]["auc"] == pytest.approx(100 * ((N - 1) * 11 + 20) / (21 * N))
    assert result["auc"] == pytest.approx((per["perfect"]["auc"] + per["offset"]["auc"]) / 2)
    assert result["fps"] == pytest.approx((100 + 50) / 2)
    assert len(result["curves"]["success"]["values"]) == 21 and "ao" not in result
    got = evaluate([_sequence("perfect", gt, "got10k")], tmp_path, dataset="got10k", convention="got10k")
    assert got["ao"] == pytest.approx(100.0) and got["sr75"] == pytest.approx(100.0)
    ao_curve = got["curves"]["ao_success"]
    assert len(ao_curve["thresholds"]) == 101 and ao_curve["values"][:100] == pytest.approx([100.0] * 100)
    assert ao_curve["values"][100] == 0.0  # IoU 1.0 is not > 1.0
    assert got["convention"] == "got10k"
