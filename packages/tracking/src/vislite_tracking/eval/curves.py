"""Threshold sets, per-sequence curves and the scores read off them (shared by both conventions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class EvaluationError(ValueError):
    """Results or ground truth that a toolkit would reject; the message names the sequence."""


class LengthMismatchWarning(UserWarning):
    """A results file whose box count differs from the annotated frames and that a toolkit truncates or pads."""


@dataclass(frozen=True)
class Thresholds:
    """Overlap thresholds (success: IoU > t), centre-error thresholds in px and normalised (precision: e <= t)."""

    overlap: np.ndarray
    center: np.ndarray
    norm_center: np.ndarray


@dataclass(frozen=True)
class Curves:
    """One sequence's (or the dataset's mean) success, precision and normalised-precision curves, fractions 0..1."""

    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray

    @staticmethod
    def mean(curves: list[Curves]) -> Curves:
        """Mean over sequences (every sequence weighs the same, as in both toolkits' OTB/LaSOT reports)."""
        if not curves:
            raise EvaluationError("no sequences to average")
        return Curves(
            success=np.mean([c.success for c in curves], axis=0),
            precision=np.mean([c.precision for c in curves], axis=0),
            norm_precision=np.mean([c.norm_precision for c in curves], axis=0),
        )


def curves_from_errors(
    overlap: np.ndarray, center: np.ndarray, norm_center: np.ndarray, thresholds: Thresholds, length: int
) -> Curves:
    """Fraction of ``length`` frames with IoU > t (strict), centre error <= t, normalised error <= t."""
    if length <= 0:
        raise EvaluationError("a sequence with no frames to score")
    return Curves(
        success=(overlap[:, None] > thresholds.overlap[None, :]).sum(axis=0) / length,  # [N, T] -> [T]
        precision=(center[:, None] <= thresholds.center[None, :]).sum(axis=0) / length,
        norm_precision=(norm_center[:, None] <= thresholds.norm_center[None, :]).sum(axis=0) / length,
    )


def threshold_index(values: np.ndarray, target: float) -> int:
    """Index of the threshold closest to ``target`` (e.g. 20 px -> 20, 0.5 -> 10 of 21 overlap thresholds)."""
    return int(np.argmin(np.abs(values - target)))
