"""Detection data checked when the splits are built: nothing to train on, splits with different categories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from vislite_detection.data import CocoDetectionDataModule

CATEGORIES = [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}, {"id": 3, "name": "star"}]
IMAGES = [{"id": 1, "width": 32, "height": 32, "file_name": "a.jpg"}]
BOX = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 8, 8], "area": 64, "iscrowd": 0}


def _module(tmp_path: Path, train: dict, val: dict) -> CocoDetectionDataModule:
    (tmp_path / "annotations").mkdir(parents=True)
    for name, data in (("train", train), ("val", val)):
        (tmp_path / "annotations" / f"{name}.json").write_text(json.dumps(data))
        (tmp_path / name).mkdir()
        Image.new("RGB", (32, 32)).save(tmp_path / name / "a.jpg")
    return CocoDetectionDataModule(root=tmp_path, train_ann="annotations/train.json", val_ann="annotations/val.json",
                                   train_images="train", val_images="val", batch_size=2)


def test_training_file_without_boxes_is_refused(tmp_path: Path) -> None:
    empty = {"images": IMAGES, "annotations": [], "categories": CATEGORIES}
    crowd_only = {**empty, "annotations": [{**BOX, "iscrowd": 1}]}
    for data, where in ((empty, "a"), (crowd_only, "b")):
        module = _module(tmp_path / where, data, {"images": IMAGES, "annotations": [BOX], "categories": CATEGORIES})
        with pytest.raises(ValueError, match=r"train\.json: the training annotations hold no \(non-crowd\) boxes"):
            module.setup("fit")


def test_validation_file_with_other_categories_is_refused_before_training(tmp_path: Path) -> None:
    train = {"images": IMAGES, "annotations": [BOX], "categories": CATEGORIES}
    val = {**train, "categories": CATEGORIES[:2]}
    module = _module(tmp_path, train, val)
    with pytest.raises(ValueError, match=r"val\.json: its categories differ from those of .*train\.json.*missing "
                                         r"\[\(3, 'star'\)\]"):
        module.setup("fit")


def test_renamed_category_is_a_mismatch(tmp_path: Path) -> None:
    train = {"images": IMAGES, "annotations": [BOX], "categories": CATEGORIES}
    val = {**train, "categories": [*CATEGORIES[:2], {"id": 3, "name": "triangle"}]}
    with pytest.raises(ValueError, match=r"extra \[\(3, 'triangle'\)\]"):
        _module(tmp_path, train, val).setup("fit")


def test_matching_splits_pass(tmp_path: Path) -> None:
    train = {"images": IMAGES, "annotations": [BOX], "categories": CATEGORIES}
    module = _module(tmp_path, train, train)
    module.setup("fit")
    assert set(module.datasets) == {"train", "val"}
