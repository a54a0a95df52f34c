"""COCO evaluation on faster-coco-eval (same 12 statistics as pycocotools' COCOeval, several times faster)."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster

from vislite_common.fileio import atomic_write_text
from vislite_detection.data.categories import label_maps
from vislite_detection.eval.convert import Result, to_coco_results
from vislite_detection.eval.distributed import gather_per_image
from vislite_detection.eval.stats import STAT_NAMES, stats_dict

IouType = Literal["bbox", "segm"]


def _silent(*_: Any, **__: Any) -> None:
    """faster-coco-eval's print function: the summary is returned, not printed."""


def as_faster_coco(coco_gt: Any) -> COCO:
    """A faster-coco-eval ``COCO`` from a pycocotools or faster-coco-eval ``COCO``, a COCO dict or a JSON path.

    Annotations of dicts (and of pycocotools' ``dataset``) are copied: evaluation adds keys to them.
    """
    if isinstance(coco_gt, COCO):
        return coco_gt
    if isinstance(coco_gt, (str, os.PathLike)):
        with open(coco_gt, encoding="utf-8") as handle:
            coco_gt = json.load(handle)
    elif hasattr(coco_gt, "dataset") and isinstance(coco_gt.dataset, dict):
        coco_gt = coco_gt.dataset
    if not isinstance(coco_gt, dict):
        raise TypeError(f"coco_gt must be a COCO object, a COCO dict or a JSON path, got {type(coco_gt).__name__}")
    # Evaluation adds keys ("ignore", "rle") to each ground-truth annotation: give it its own annotation dicts.
    # (COCO's use_deepcopy would also deep-copy every result list in loadRes, slower than the evaluation itself.)
    own = {**coco_gt, "annotations": [dict(ann) for ann in coco_gt.get("annotations", [])]}
    return COCO(own, print_function=_silent)


def evaluate_results(gt: COCO, results: list[Result], *, iou_type: IouType, image_ids: Sequence[int] | None) -> dict:
    """Run faster-coco-eval on COCO result ``records`` against ``gt`` (restricted to ``image_ids`` when given)."""
    dt = gt.loadRes([dict(record) for record in results])  # loadRes adds keys to the records it is given
    evaluator = COCOeval_faster(gt, dt, iouType=iou_type, print_function=_silent)
    if image_ids is not None:
        evaluator.params.imgIds = sorted(image_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return stats_dict(np.asarray(evaluator.stats)[: len(STAT_NAMES)].tolist())


class CocoEvaluator:
    """Accumulates per-image predictions and computes COCO's 12 statistics with faster-coco-eval.

    Args:
        coco_gt: the ground truth: a pycocotools or faster-coco-eval ``COCO`` (e.g. ``CocoDetection.coco``),
            a COCO dict or a path to a COCO JSON.
        iou_type: ``"bbox"`` or ``"segm"`` (predictions then carry ``masks`` (K, 1, H, W) probabilities).
        label_to_category_id: contiguous label -> category id; by default sorted category ids map to 1..K, as in
            :class:`~vislite_detection.data.CocoDetection`.

    ``update`` takes one dict per image: ``image_id``, ``boxes`` (K, 4) XYXY, ``scores`` (K,), ``labels`` (K,),
    optionally ``image_size`` (H, W) of the image the boxes refer to (rescaled to the annotated size) and
    ``masks``. Only images passed to ``update`` are evaluated (all of them if none were). Under
    ``torch.distributed`` the ranks' predictions are gathered in ``compute`` (call it on every rank).
    """

    def __init__(
        self, coco_gt: Any, *, iou_type: IouType = "bbox", label_to_category_id: Mapping[int, int] | None = None
    ) -> None:
        if iou_type not in ("bbox", "segm"):
            raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
        self.gt = as_faster_coco(coco_gt)
        self.iou_type: IouType = iou_type
        if label_to_category_id is None:
            label_to_category_id = label_maps(self.gt.dataset["categories"])[0]
        self.label_to_category_id = dict(label_to_category_id)
        self.per_image: dict[int, list[Result]] = {}
        self._gathered: dict[int, list[Result]] | None = None  # every rank's results, as of the last compute

    def reset(self) -> None:
        """Forget every prediction."""
        self.per_image = {}
        self._gathered = None

    def update(self, predictions: Sequence[Mapping[str, Any]]) -> None:
        """Add one prediction dict per image (see the class docstring); an image given twice keeps the last."""
        self._gathered = None
        for prediction in predictions:
            image_id = int(prediction["image_id"])
            info = self.gt.imgs.get(image_id)
            if info is None:
                raise KeyError(f"prediction for image id {image_id}, which is not in the ground truth")
            self.per_image[image_id] = to_coco_results(
                prediction,
                label_to_category_id=self.label_to_category_id,
                orig_size=(int(info["height"]), int(info["width"])),
                with_masks=self.iou_type == "segm",
            )

    def _merged(self) -> dict[int, list[Result]]:
        if self._gathered is None:
            self._gathered = gather_per_image(self.per_image)
        return self._gathered

    def results(self) -> list[Result]:
        """Every rank's COCO result records, in image-id order.

        Right after :meth:`compute` this needs no communication (rank 0 alone may call it, e.g. to write the
        file); otherwise, under ``torch.distributed``, call it on every rank.
        """
        merged = self._merged()
        return [record for image_id in sorted(merged) for record in merged[image_id]]

    def compute(self) -> dict[str, float]:
        """``{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}``.

        Values are in [0, 1]; -1 where COCO has nothing to measure (no ground truth in that area range).
        """
        merged = self._merged()
        image_ids = sorted(merged) if merged else None
        return evaluate_results(self.gt, self.results(), iou_type=self.iou_type, image_ids=image_ids)

    def write_results(self, path: str | os.PathLike) -> Path:
        """Write the COCO result JSON (``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``; see
        :meth:`results` for calling it on one rank)."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.results()))
        return path
