"""Checks across a detection data module's splits, run when they are built (before any training step).

* a training annotation file without a single (non-crowd) box would train on nothing but background;
* validation / test files whose categories differ from the training file's would be scored with the wrong label
  map (or fail only after the first training epoch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _categories(dataset: Any) -> dict[int, str]:
    return dict(zip(dataset.label_to_category_id, dataset.category_names))


def check_splits(datasets: Mapping[str, Any], *, same_categories: bool = True) -> None:
    """Raise ValueError naming the annotation file when a split cannot be trained on or scored consistently.

    ``datasets`` maps split names (``train``, ``val``, ``test``) to :class:`~vislite_detection.data.CocoDetection`;
    ``same_categories=False`` (open-vocabulary splits: seen for training, unseen for evaluation) skips the
    category comparison.
    """
    train = datasets.get("train")
    if train is not None:
        boxes = sum(1 for ann in train.coco.anns.values() if not ann.get("iscrowd", 0))
        if boxes == 0:
            raise ValueError(
                f"{train.ann_file}: the training annotations hold no (non-crowd) boxes, so there is nothing to "
                f"learn; expected a COCO instances file with 'annotations'"
            )
    reference = train or datasets.get("val")
    if reference is None or not same_categories:
        return
    expected = _categories(reference)
    for split in ("val", "test"):
        other = datasets.get(split)
        if other is None or other is reference:
            continue
        found = _categories(other)
        if found != expected:
            missing = sorted(set(expected.items()) - set(found.items()))
            extra = sorted(set(found.items()) - set(expected.items()))
            raise ValueError(
                f"{other.ann_file}: its categories differ from those of {reference.ann_file} (the {split} split must "
                f"use the same category ids and names); missing {missing[:10]}, extra {extra[:10]}"
            )
