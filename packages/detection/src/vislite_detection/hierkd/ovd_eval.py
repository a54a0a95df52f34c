"""Zero-shot (ZSD) and generalized zero-shot (GZSD) detection metrics: AP50 on unseen / seen classes, harmonic mean."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from faster_coco_eval import COCOeval_faster

from vislite_detection.eval.coco_evaluator import _silent, as_faster_coco


def per_class_ap50(coco_gt: Any, results: list[dict[str, Any]]) -> dict[str, float]:
    """AP at IoU 0.5 (all areas, 100 detections) of every category of ``coco_gt`` that has ground truth,
    by name, with faster-coco-eval. ``results`` are COCO result records (``bbox`` as [x, y, w, h])."""
    gt = as_faster_coco(coco_gt)
    names = {int(c["id"]): str(c["name"]) for c in gt.dataset["categories"]}
    if not results:
        return {names[c]: 0.0 for c in sorted(names) if gt.getAnnIds(catIds=[c])}
    dt = gt.loadRes([dict(r) for r in results])
    evaluator = COCOeval_faster(gt, dt, iouType="bbox", print_function=_silent)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    precision = np.asarray(evaluator.eval["precision"])  # (T, R, K, A, M)
    cat_ids = list(evaluator.params.catIds)
    out = {}
    for k, cat_id in enumerate(cat_ids):
        p = precision[0, :, k, 0, -1]
        p = p[p > -1]
        if p.size:
            out[names[int(cat_id)]] = float(p.mean())
    return out


def harmonic_mean(a: float, b: float) -> float:
    """2ab / (a + b), 0 when both are 0."""
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


def ovd_metrics(
    coco_gt: Any, results: list[dict[str, Any]], *, seen: Sequence[str], unseen: Sequence[str]
) -> dict[str, float]:
    """``AP50_seen``, ``AP50_unseen`` (means of the per-class AP50 over the classes with ground truth) and their
    harmonic mean ``AP50_hm``. With a ZSD file (unseen classes only) ``AP50_unseen`` is the ZSD figure."""
    per_class = per_class_ap50(coco_gt, results)
    known = set(seen) | set(unseen)
    stray = sorted(set(per_class) - known)
    if stray:
        raise ValueError(f"ground-truth categories {stray} are neither seen nor unseen in the split")
    out = {}
    for key, names in (("AP50_seen", seen), ("AP50_unseen", unseen)):
        values = [per_class[n] for n in names if n in per_class]
        out[key] = float(np.mean(values)) if values else float("nan")
    if not np.isnan(out["AP50_seen"]) and not np.isnan(out["AP50_unseen"]):
        out["AP50_hm"] = harmonic_mean(out["AP50_seen"], out["AP50_unseen"])
    return out
