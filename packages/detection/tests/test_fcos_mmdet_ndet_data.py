"""NDet's data pipeline under mmdetection: border clipping of noisy boxes, ``_bbox`` clean boxes, empty images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vislite_common.data.world import make_coco
from vislite_detection.data import CocoDetection
from vislite_detection.data.transforms import train_transforms


@pytest.fixture(scope="module")
def ndet_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-image world written as NDet's noisy files are: the noisy box in ``bbox``, the clean one in ``_bbox``;
    annotation 1's noisy box crosses the right border (x 100..160 of a 128 px image); one extra unannotated
    image."""
    root = make_coco(tmp_path_factory.mktemp("ndet") / "coco", seed=0, image_size=128, num_train=4, num_val=2)
    path = root / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    for ann in data["annotations"]:
        ann["_bbox"] = list(ann["bbox"])
    first = data["annotations"][0]
    assert first["image_id"] == 1
    first["bbox"] = [100.0, 10.0, 60.0, 30.0]
    first["_bbox"] = [98.0, 12.0, 30.0, 28.0]
    shutil.copy(root / "train" / data["images"][0]["file_name"], root / "train" / "empty.jpg")
    data["images"].append({"id": 99, "file_name": "empty.jpg", "width": 128, "height": 128})
    (root / "annotations" / "ndet_noisy.json").write_text(json.dumps(data))
    return root


def _first_target(root: Path, **kwargs: object) -> dict:
    dataset = CocoDetection(image_dir=root / "train", ann_file=root / "annotations" / "ndet_noisy.json", **kwargs)
    return dataset[0][1]


def test_ndet_underscore_bbox_is_read_as_the_clean_box(ndet_world: Path) -> None:
    target = _first_target(ndet_world)
    assert target["clean_boxes"][0].tolist() == [98.0, 12.0, 128.0, 40.0]
    assert target["boxes"][0].tolist() == [100.0, 10.0, 160.0, 40.0]  # as annotated without clipping


@pytest.mark.parametrize("scale", [128, 64])
def test_border_clipping_clips_the_noisy_box_to_the_resized_image(ndet_world: Path, scale: int) -> None:
    clipped = _first_target(
        ndet_world, transforms=train_transforms(scales=[scale], max_size=None, flip_prob=0.0, clip_border=True)
    )
    factor = scale / 128
    assert clipped["boxes"][0].tolist() == pytest.approx([100 * factor, 10 * factor, scale, 40 * factor])
    # the other boxes lie inside the image and are unchanged
    kept = _first_target(ndet_world, transforms=train_transforms(scales=[scale], max_size=None, flip_prob=0.0))
    assert kept["boxes"][0].tolist() == pytest.approx([100 * factor, 10 * factor, 160 * factor, 40 * factor])
    torch.testing.assert_close(
        clipped["boxes"][1:].as_subclass(torch.Tensor), kept["boxes"][1:].as_subclass(torch.Tensor)
    )
    # after a flip the clipped box starts at the left border
    flipped = _first_target(
        ndet_world, transforms=train_transforms(scales=[scale], max_size=None, flip_prob=1.0, clip_border=True)
    )
    assert flipped["boxes"][0].tolist() == pytest.approx([0, 10 * factor, 28 * factor, 40 * factor])


def test_filter_empty_gt_drops_unannotated_training_images(ndet_world: Path) -> None:
    ann = ndet_world / "annotations" / "ndet_noisy.json"
    assert 99 in CocoDetection(image_dir=ndet_world / "train", ann_file=ann).ids
    filtered = CocoDetection(image_dir=ndet_world / "train", ann_file=ann, filter_empty_gt=True)
    assert 99 not in filtered.ids and len(filtered) == 4


def test_the_data_module_clips_and_filters_its_training_set_only(ndet_world: Path) -> None:
    from vislite_detection.data import CocoDetectionDataModule

    module = CocoDetectionDataModule(
        root=ndet_world,
        train_ann="annotations/ndet_noisy.json",
        val_ann="annotations/ndet_noisy.json",
        train_images="train",
        val_images="train",
        batch_size=2,
        train_scales=[128],
        max_size=None,
        test_scale=128,
        flip_prob=0.0,
        clip_border=True,
        filter_empty_gt=True,
    )
    train, val = module.make_dataset("train"), module.make_dataset("val")
    assert len(train) == 4 and len(val) == 5  # evaluation keeps every image
    assert train[0][1]["boxes"][0].tolist() == [100.0, 10.0, 128.0, 40.0]
    assert val[0][1]["boxes"][0].tolist() == [100.0, 10.0, 160.0, 40.0]
