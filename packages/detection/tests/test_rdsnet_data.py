"""Instance masks through the COCO pipeline: polygons and RLE decode alike; broken masks fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pycocotools import mask as mask_utils

from vislite_common.data.world import make_coco
from vislite_detection.data import CocoDetection
from vislite_detection.data.errors import AnnotationError
from vislite_detection.eval import CocoEvaluator
from vislite_detection.models import create_detector

WORLD = dict(seed=3, image_size=64, num_train=4, num_val=2)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("masks")
    return {kind: make_coco(base / kind, segmentation=kind, **WORLD) for kind in ("polygon", "rle")}


def _broken(world: Path, tmp_path: Path, edit) -> Path:
    data = json.loads((world / "annotations" / "instances_train.json").read_text())
    edit(data["annotations"][0], data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


def test_polygon_and_rle_worlds_give_the_same_masks(worlds: dict[str, Path]) -> None:
    sets = {
        kind: CocoDetection(
            image_dir=root / "train", ann_file=root / "annotations" / "instances_train.json", with_masks=True
        )
        for kind, root in worlds.items()
    }
    for index in range(len(sets["rle"])):
        _, poly = sets["polygon"][index]
        image, rle = sets["rle"][index]
        assert rle["masks"].shape == (len(rle["boxes"]), *image.shape[-2:]) and rle["masks"].dtype == torch.uint8
        assert rle["masks"].sum() > 0
        # polygons are traced outlines of the same masks: they agree on almost every pixel
        agree = (poly["masks"] == rle["masks"]).float().mean()
        assert agree > 0.97, float(agree)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ann, data: ann.update(segmentation=[]), "missing or empty"),
        (lambda ann, data: ann.update(segmentation=[[1.0, 2.0, 3.0, 4.0]]), "4 coordinates; expected an even count"),
        (lambda ann, data: ann.update(segmentation=[[1, 2, 3, "x", 5, 6]]), "not a list of finite numbers"),
        (lambda ann, data: ann.update(segmentation={"size": [10, 10], "counts": [100]}), "RLE size mismatch"),
        (lambda ann, data: ann.update(segmentation={"size": [64, 64], "counts": [10, 5]}), "sums to 15 pixels"),
        (lambda ann, data: ann.update(segmentation="abc"), "expected a polygon list or an RLE dict"),
    ],
)
def test_broken_segmentations_name_the_annotation(worlds: dict[str, Path], tmp_path: Path, edit, message) -> None:
    root = worlds["polygon"]
    path = _broken(root, tmp_path, edit)
    with pytest.raises(AnnotationError, match=message) as info:
        CocoDetection(image_dir=root / "train", ann_file=path, with_masks=True)
    assert str(path) in str(info.value) and "annotation id" in str(info.value)
    CocoDetection(image_dir=root / "train", ann_file=path)  # box-only reading does not look at masks


def test_uncompressed_rle_decodes(worlds: dict[str, Path], tmp_path: Path) -> None:
    root = worlds["polygon"]
    truth = CocoDetection(
        image_dir=root / "train", ann_file=root / "annotations" / "instances_train.json", with_masks=True
    )
    first = truth.coco.imgToAnns[truth.ids[0]][0]
    mask = truth[0][1]["masks"][0].numpy()

    def to_uncompressed(ann: dict, data: dict) -> None:
        flat = mask.T.reshape(-1)  # column-major runs, starting with zeros
        counts, value, run = [], 0, 0
        for pixel in flat:
            if pixel != value:
                counts.append(run)
                value, run = pixel, 0
            run += 1
        counts.append(run)
        for record in data["annotations"]:
            if record["id"] == first["id"]:
                record["segmentation"] = {"size": list(mask.shape), "counts": [int(c) for c in counts]}

    path = _broken(root, tmp_path, to_uncompressed)
    again = CocoDetection(image_dir=root / "train", ann_file=path, with_masks=True)
    assert torch.equal(again[0][1]["masks"][0], truth[0][1]["masks"][0])
    assert mask_utils.area(mask_utils.encode(mask.copy(order="F"))) == int(mask.sum())


def test_rdsnet_rejects_masks_of_the_wrong_size() -> None:
    model = create_detector("test_rdsnet").train()
    target = {"boxes": torch.tensor([[4.0, 4.0, 40.0, 40.0]]), "labels": torch.tensor([1])}
    with pytest.raises(ValueError, match="needs 'masks'"):
        model([torch.rand(3, 64, 64)], [target])
    with pytest.raises(ValueError, match=r"masks \(1, 32, 32\) must be \(1, 64, 64\)"):
        model([torch.rand(3, 64, 64)], [{**target, "masks": torch.ones(1, 32, 32, dtype=torch.uint8)}])
    with pytest.raises(ValueError, match="one mask per box"):
        model([torch.rand(3, 64, 64)], [{**target, "masks": torch.ones(2, 64, 64, dtype=torch.uint8)}])


def test_segm_evaluation_of_ground_truth_masks_is_perfect(worlds: dict[str, Path]) -> None:
    root = worlds["rle"]
    val = CocoDetection(image_dir=root / "val", ann_file=root / "annotations" / "instances_val.json", with_masks=True)
    evaluator = CocoEvaluator(val.coco, iou_type="segm")
    for index in range(len(val)):
        _, target = val[index]
        n = len(target["boxes"])
        evaluator.update(
            [
                {
                    "image_id": target["image_id"],
                    "boxes": target["boxes"],
                    "scores": torch.ones(n),
                    "labels": target["labels"],
                    "masks": target["masks"][:, None].float(),
                }
            ]
        )
    assert evaluator.compute()["AP"] == pytest.approx(1.0)
