"""COCO bbox evaluation time: vislite's ``CocoEvaluator`` (faster-coco-eval) against pycocotools' ``COCOeval``.

Both evaluate the same detections on the same synthetic COCO set in this run, and their 12 statistics must be
identical (asserted). The set: ``--images`` images of 640x480 with 80 classes, 1-15 objects each (some crowd
regions, some images without objects), and per image jittered copies of the objects (some with a wrong class)
plus random false positives, at most 100 detections per image.

Timed, best of ``--repeats``:

- pycocotools: ``COCO`` index of the ground truth, ``loadRes``, ``evaluate``, ``accumulate``, ``summarize``;
- vislite: ``CocoEvaluator(gt)``, ``update`` with per-image tensors (XYXY boxes, contiguous labels, converted
  to COCO records inside), ``compute``.

    python benchmarks/coco_eval.py            # 5,000 images (goal: >= 5x faster)
    python benchmarks/coco_eval.py --quick    # 500 images
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vislite_detection.eval import STAT_NAMES, CocoEvaluator

WIDTH, HEIGHT, CLASSES = 640, 480, 80
TOLERANCE = 1e-12  # summation order may differ in the last bit of a mean


def synthetic_set(num_images: int, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(ground truth dict, per-image predictions)`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    images, anns, predictions = [], [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": WIDTH, "height": HEIGHT})
        count = 0 if rng.random() < 0.02 else int(rng.integers(1, 16))
        wh = np.exp(rng.uniform(np.log(8), np.log(300), (count, 2)))  # small, medium and large objects
        xy = rng.uniform(0, 1, (count, 2)) * ([WIDTH, HEIGHT] - wh)
        labels = rng.integers(1, CLASSES + 1, count)
        for (x, y), (w, h), label in zip(xy, wh, labels):
            crowd = int(rng.random() < 0.01)
            box = [float(x), float(y), float(w), float(h)]
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(label), "bbox": box,
                         "area": float(w * h), "iscrowd": crowd})  # fmt: skip
        boxes = [np.concatenate([xy, xy + wh], axis=1)]  # [count, 4] XYXY
        boxes[0] = boxes[0] + rng.normal(0, 0.08, (count, 4)) * np.concatenate([wh, wh], axis=1)
        det_labels = [np.where(rng.random(count) < 0.15, rng.integers(1, CLASSES + 1, count), labels)]
        false = int(rng.integers(10, 60))
        fxy = rng.uniform(0, 1, (false, 2)) * [WIDTH - 8, HEIGHT - 8]
        fwh = np.exp(rng.uniform(np.log(8), np.log(300), (false, 2)))
        boxes.append(np.concatenate([fxy, np.minimum(fxy + fwh, [WIDTH, HEIGHT])], axis=1))
        det_labels.append(rng.integers(1, CLASSES + 1, false))
        all_boxes = np.concatenate(boxes)[:100]
        predictions.append({
            "image_id": image_id,
            "boxes": torch.from_numpy(all_boxes),
            "labels": torch.from_numpy(np.concatenate(det_labels)[:100]),
            "scores": torch.from_numpy(rng.uniform(0.05, 1.0, len(all_boxes))),
        })  # fmt: skip
    categories = [{"id": i, "name": f"class{i}"} for i in range(1, CLASSES + 1)]
    return {"images": images, "annotations": anns, "categories": categories}, predictions


def run_pycocotools(gt: dict[str, Any], records: list[dict[str, Any]]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes([dict(r) for r in records]), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats)


def run_vislite(gt: dict[str, Any], predictions: list[dict[str, Any]]) -> np.ndarray:
    evaluator = CocoEvaluator(gt)
    evaluator.update(predictions)
    stats = evaluator.compute()
    return np.array([stats[name] for name in STAT_NAMES])


def best_time(fn: Callable[[dict[str, Any]], np.ndarray], gt: dict[str, Any], repeats: int) -> tuple[float, np.ndarray]:
    """Fastest wall time of ``repeats`` calls of ``fn`` on a fresh copy of ``gt`` (the copy is untimed)."""
    best, result = float("inf"), np.zeros(0)
    for _ in range(repeats):
        fresh = copy.deepcopy(gt)
        gc.collect()  # neither side pays for collecting the other's garbage
        start = time.perf_counter()
        result = fn(fresh)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="500 images, one repeat")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    num_images = 500 if args.quick else args.images
    torch.set_num_threads(1)
    gt, predictions = synthetic_set(num_images, args.seed)
    converter = CocoEvaluator(gt)
    converter.update(predictions)
    result_records = converter.results()  # the same detections as COCO result records, for pycocotools
    print(f"{num_images} images, {len(gt['annotations'])} objects, {len(result_records)} detections, {CLASSES} classes")

    ref_time, ref_stats = best_time(lambda fresh: run_pycocotools(fresh, result_records), gt, args.repeats)
    new_time, new_stats = best_time(lambda fresh: run_vislite(fresh, predictions), gt, args.repeats)
    for name, a, b in zip(STAT_NAMES, ref_stats, new_stats):
        print(f"{name:<6} pycocotools {a:.6f}  vislite {b:.6f}")
    diff = np.abs(ref_stats[: len(STAT_NAMES)] - new_stats)
    if diff.max() > TOLERANCE:
        raise SystemExit(f"statistics differ: max |diff| {diff.max():.3g} ({STAT_NAMES[int(diff.argmax())]})")
    ratio = ref_time / new_time
    exact = sum(int(d == 0.0) for d in diff)
    print(f"all 12 statistics equal: {exact} bit-identical, max |diff| {diff.max():.3g} (limit {TOLERANCE:g})")
    print(f"pycocotools {ref_time:.2f} s, vislite {new_time:.2f} s: {ratio:.1f}x faster (goal >= 5x: "
          f"{'met' if ratio >= 5 else 'not met'})")  # fmt: skip


if __name__ == "__main__":
    main()
