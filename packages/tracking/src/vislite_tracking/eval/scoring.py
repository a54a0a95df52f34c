"""``evaluate``: score a results folder against ground truth under one toolkit's convention.

All scores are percentages. ``auc``, ``precision`` and ``norm_precision`` (plus ``op50`` / ``op75``) follow
the chosen convention (``pytracking``, ``ostrack``, ``got10k`` or ``pysot``; see those modules; ``ostrack`` is
pytracking's analysis as OSTrack copied it, where ground truth with x or y = 0 stays valid); on GOT-10k, ``ao``,
``sr50`` and ``sr75`` always follow GOT-10k's own definition (frame-weighted over frames 2..N with
``cover > 0``), which the other toolkits do not compute. ``fps`` is the mean over sequences of mean(1 / t)
from the timing files, when present. Results whose length differs from the ground truth and that the convention
truncates or pads (rather than rejects) raise a ``LengthMismatchWarning``; its messages are also kept under
``warnings`` (per sequence and overall).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence as Seq
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vislite_tracking.data.sequence import Sequence
from vislite_tracking.eval import got10k_toolkit, pysot_toolkit, pytracking
from vislite_tracking.eval.curves import Curves, EvaluationError, LengthMismatchWarning, Thresholds
from vislite_tracking.eval.results import Run, frames_per_second, load_runs

CONVENTIONS: dict[str, Thresholds] = {
    "pytracking": pytracking.THRESHOLDS,
    "ostrack": pytracking.THRESHOLDS,
    "got10k": got10k_toolkit.THRESHOLDS,
    "pysot": pysot_toolkit.THRESHOLDS,
}
DATASETS: tuple[str, ...] = ("lasot", "got10k", "otb")


def _run_curves(run: Run, seq: Sequence, dataset: str, convention: str) -> Curves:
    if convention in pytracking.VALIDITY:  # pytracking or OSTrack's copy: they differ in the valid frames only
        visible = seq.visible if dataset == "lasot" else None  # only pytracking's LaSOT carries visibility
        errors = pytracking.frame_errors(
            run.boxes, seq.boxes, dataset=dataset, name=seq.name, visible=visible, rule=convention
        )
        return pytracking.sequence_curves(errors)
    if convention == "pysot":
        present = seq.visible if dataset == "lasot" else None  # pysot's LaSOT ``absent`` list
        return pysot_toolkit.sequence_curves(run.boxes, seq.boxes, name=seq.name, present=present)
    return got10k_toolkit.sequence_curves(run.boxes, seq.boxes, name=seq.name)


def _sequence_curves(runs: list[Run], seq: Sequence, dataset: str, convention: str) -> tuple[Curves, list[str]]:
    """Mean curves over the runs of one sequence, and the length-mismatch warnings they raised (re-emitted)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LengthMismatchWarning)
        curves = Curves.mean([_run_curves(run, seq, dataset, convention) for run in runs])
    notes = []
    for item in caught:
        if issubclass(item.category, LengthMismatchWarning):
            notes.append(str(item.message))
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return curves, notes


def _frame_size(seq: Sequence) -> tuple[int, int]:
    if seq.frame_size is not None:
        return seq.frame_size
    if not seq.frames[0].is_file():
        raise FileNotFoundError(
            f"{seq.frames[0]}: sequence {seq.name!r} has neither its frames nor a meta_info.ini with a resolution; "
            f"GOT-10k's scores need the frame size (keep meta_info.ini with annotation-only copies)"
        )
    with Image.open(seq.frames[0]) as image:
        return image.size


def _got10k_ious(runs: list[Run], seq: Sequence) -> np.ndarray:
    cover = seq.cover if seq.cover is not None else seq.visible.astype(np.int64)
    size = _frame_size(seq)
    return np.concatenate(
        [
            got10k_toolkit.got10k_frame_ious(r.boxes, seq.boxes, cover=cover, frame_size=size, name=seq.name)
            for r in runs
        ]
    )


def _scores(curves: Curves, convention: str) -> dict[str, float]:
    modules = {"pytracking": pytracking, "ostrack": pytracking, "got10k": got10k_toolkit, "pysot": pysot_toolkit}
    return modules[convention].scores(curves)


def _curves_json(curves: Curves, thresholds: Thresholds) -> dict[str, dict[str, list[float]]]:
    pairs = {
        "success": (thresholds.overlap, curves.success),
        "precision": (thresholds.center, curves.precision),
        "norm_precision": (thresholds.norm_center, curves.norm_precision),
    }
    return {k: {"thresholds": t.tolist(), "values": (100.0 * v).tolist()} for k, (t, v) in pairs.items()}


def _mean_fps(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def evaluate(
    sequences: Seq[Sequence], results_dir: str | os.PathLike, *, dataset: str, convention: str = "pytracking"
) -> dict[str, Any]:
    """Scores of the results in ``results_dir`` on ``sequences``: overall, per sequence, and the mean curves."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {sorted(CONVENTIONS)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(DATASETS)}")
    if not sequences:
        raise EvaluationError(f"no sequences to evaluate against {results_dir}")
    results_dir = Path(results_dir)
    per_sequence: dict[str, dict[str, Any]] = {}
    all_curves, all_ious = [], []
    for seq in sequences:
        runs = load_runs(results_dir, seq.name)
        curves, notes = _sequence_curves(runs, seq, dataset, convention)
        entry: dict[str, Any] = {**_scores(curves, convention), "length": len(seq)}
        if notes:
            entry["warnings"] = notes
        entry["fps"] = _mean_fps([frames_per_second(run.times) for run in runs])
        if dataset == "got10k":
            ious = _got10k_ious(runs, seq)
            entry.update(got10k_toolkit.ao_sr(ious))
            all_ious.append(ious)
        per_sequence[seq.name] = entry
        all_curves.append(curves)
    mean_curves = Curves.mean(all_curves)
    out: dict[str, Any] = {"dataset": dataset, "convention": convention, "num_sequences": len(sequences)}
    out.update(_scores(mean_curves, convention))
    out["fps"] = _mean_fps([entry["fps"] for entry in per_sequence.values()])
    out["curves"] = _curves_json(mean_curves, CONVENTIONS[convention])
    if dataset == "got10k":
        ious = np.concatenate(all_ious)
        out.update(got10k_toolkit.ao_sr(ious))
        values = 100.0 * got10k_toolkit.ao_success_curve(ious)
        out["curves"]["ao_success"] = {"thresholds": got10k_toolkit.AO_THRESHOLDS.tolist(), "values": values.tolist()}
    out["warnings"] = [note for entry in per_sequence.values() for note in entry.get("warnings", [])]
    out["sequences"] = per_sequence
    return out
