"""The embedded data world: determinism, idempotence, and validity of every layout it writes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vislite_common.data.world import SHAPES, make_ade20k, make_classification, make_coco, make_world
from vislite_common.data.world.cli import main as cli_main
from vislite_common.data.world.crowd import sample_crowd
from vislite_common.data.world.output import MANIFEST
from vislite_common.data.world.polygons import mask_bbox, mask_to_polygons
from vislite_common.data.world.scene import compose, visible_masks

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools + numpy 2

# Tiny arguments per task, so each generation takes a fraction of a second.
TINY: dict[str, dict[str, Any]] = {
    "classification": {"image_size": 32, "train_per_class": 2, "val_per_class": 1},
    "coco": {"image_size": 64, "num_train": 4, "num_val": 2},
    "ade20k": {"image_size": 64, "num_train": 3, "num_val": 2},
    "lasot": {"frame_size": (64, 48), "num_sequences": 2, "num_frames": 6},
    "got10k": {"frame_size": (64, 48), "num_train": 2, "num_val": 1, "num_frames": 6},
}


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def quiet_coco(path: Path) -> COCO:
    """pycocotools COCO without its prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco"), seed=1, image_size=96, num_train=10, num_val=3)


# --- determinism and idempotence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task", list(TINY))
def test_same_arguments_give_identical_bytes(task: str, tmp_path: Path) -> None:
    first = digests(make_world(task, tmp_path / "a", seed=3, **TINY[task]))
    second = digests(make_world(task, tmp_path / "b", seed=3, **TINY[task]))
    other = digests(make_world(task, tmp_path / "c", seed=4, **TINY[task]))
    assert len(first) > 5
    assert first == second
    assert first.keys() == other.keys()
    data = [k for k in first if k.endswith(".jpg")]
    assert data
    assert all(first[k] != other[k] for k in data), "a different seed must change every image"


def test_idempotent_and_regenerates_on_new_parameters(tmp_path: Path) -> None:
    root = make_classification(tmp_path / "cls", **TINY["classification"])
    stamp = {p: p.stat().st_mtime_ns for p in root.rglob("*.jpg")}
    assert make_classification(root, **TINY["classification"]) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.jpg")} == stamp, "a complete world is not rewritten"
    make_classification(root, image_size=32, train_per_class=1, val_per_class=1)  # fewer images: stale ones go
    assert len(list((root / "train").rglob("*.jpg"))) == len(SHAPES)
    (root / "train" / "circle" / "circle_00001.jpg").unlink()  # an incomplete world is regenerated
    make_classification(root, image_size=32, train_per_class=1, val_per_class=1)
    assert (root / "train" / "circle" / "circle_00001.jpg").is_file()


def test_refuses_foreign_or_other_task_directories(tmp_path: Path) -> None:
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        make_classification(tmp_path / "foreign", **TINY["classification"])
    root = make_ade20k(tmp_path / "ade", **TINY["ade20k"])
    with pytest.raises(FileExistsError, match="'ade20k' world"):
        make_coco(root, **TINY["coco"])


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image_size"):
        make_classification(tmp_path / "x", image_size=4)
    with pytest.raises(ValueError, match="seed"):
        make_classification(tmp_path / "x", seed=-1)
    with pytest.raises(ValueError, match="segmentation"):
        make_coco(tmp_path / "x", segmentation="mask")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown unseen"):
        make_coco(tmp_path / "x", unseen=("dragon",))
    with pytest.raises(ValueError, match="unknown task"):
        make_world("imagenet", tmp_path / "x")
    with pytest.raises(ValueError, match="do not apply"):
        make_world("lasot", tmp_path / "x", image_size=64)
    assert not (tmp_path / "x").exists()


# --- classification -------------------------------------------------------------------------------------------------


def test_classification_is_an_imagefolder(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    root = make_classification(tmp_path / "cls", seed=0, image_size=40, train_per_class=3, val_per_class=2)
    train, val = ImageFolder(str(root / "train")), ImageFolder(str(root / "val"))
    assert train.classes == sorted(SHAPES)
    assert val.classes == sorted(SHAPES)
    assert len(train) == 3 * len(SHAPES)
    assert len(val) == 2 * len(SHAPES)
    assert np.bincount(train.targets).tolist() == [3] * len(SHAPES)
    image, label = train[0]
    assert image.size == (40, 40)
    assert image.mode == "RGB"
    assert train.classes[label] == "circle"


def _border(image: np.ndarray) -> np.ndarray:
    """The image's outermost ring of pixels, ``[P, 3]`` int16."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]]).astype(np.int16)


def _foreground_blobs(image: np.ndarray) -> int:
    """Connected regions (>= 12 px, after closing texture gaps) that differ from the border colour of a flat image."""
    grey = np.median(_border(image), axis=0)
    foreground = (np.abs(image.astype(np.int16) - grey).max(axis=2) > 30).astype(np.uint8)
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(foreground)
    return int((stats[1:, cv2.CC_STAT_AREA] >= 12).sum())


def test_classification_easy_variant(tmp_path: Path) -> None:
    """``background="flat"`` + ``max_distractors=0``: deterministic, one grey per image, the dominant shape alone;
    with distractors allowed the same check sees several shapes, and the variant is part of the manifest."""
    easy = {"seed": 1, "image_size": 64, "train_per_class": 2, "val_per_class": 1}
    root = make_classification(tmp_path / "a", **easy, background="flat", max_distractors=0)
    flat_digests = digests(root)
    assert flat_digests == digests(make_classification(tmp_path / "b", **easy, background="flat", max_distractors=0))
    files = sorted(root.rglob("*.jpg"))
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    assert len(images) == 3 * len(SHAPES)
    for path, image in zip(files, images):
        border = _border(image)
        flat = (np.abs(border - np.median(border, axis=0)).max(axis=1) <= 8).mean()
        assert flat > 0.8, f"{path.name}: only {flat:.0%} of the border has the background's grey"
        assert np.ptp(np.median(border, axis=0)) <= 2, f"{path.name}: the background is not grey"
        assert _foreground_blobs(image) == 1, f"{path.name}: expected the dominant shape alone"
    assert len({int(np.median(_border(image))) // 8 for image in images}) > 5, "the grey level varies between images"
    busy = make_classification(tmp_path / "c", **easy, background="flat")
    assert sum(_foreground_blobs(np.asarray(Image.open(p).convert("RGB"))) > 1 for p in busy.rglob("*.jpg")) >= 4
    params = json.loads((root / MANIFEST).read_text())["params"]
    assert (params["background"], params["max_distractors"]) == ("flat", 0)
    assert "max_distractors" not in json.loads((busy / MANIFEST).read_text())["params"]  # defaults stay out
    blurred = make_classification(root, **easy, background="blurred", max_distractors=0)  # another variant: rewritten
    blurred_digests = digests(blurred)
    assert blurred_digests.keys() == flat_digests.keys()
    assert all(blurred_digests[k] != flat_digests[k] for k in flat_digests if k.endswith(".jpg"))
    assert json.loads((blurred / MANIFEST).read_text())["params"]["background"] == "blurred"
    with pytest.raises(ValueError, match="background must be one of"):
        make_classification(tmp_path / "x", background="noise")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_distractors"):
        make_classification(tmp_path / "x", max_distractors=3)


# --- scenes and exact masks ----------------------------------------------------------------------------------------


def test_crowds_keep_every_object_visible_and_inside() -> None:
    rng = np.random.default_rng(0)
    overlapping = 0
    for _ in range(25):
        objects = sample_crowd(rng, (96, 96), num_objects=(3, 5))
        image, full, visible = compose(np.zeros((96, 96, 3), np.uint8), objects)
        assert image.shape == (96, 96, 3)
        assert full.shape == visible.shape == (len(objects), 96, 96)
        for obj, f, v in zip(objects, full, visible):
            x0, y0, x1, y1 = obj.geometry().bounds()
            assert x0 >= 0
            assert y0 >= 0
            assert x1 <= 96
            assert y1 <= 96
            assert v.sum() >= 0.3 * f.sum()
            assert v.sum() >= 12
        overlapping += int((full.sum(0) > 1).any())
    assert overlapping >= 10, "occlusions should be common"


def test_visible_masks_follow_painter_order() -> None:
    full = np.zeros((2, 4, 4), bool)
    full[0, :, :3] = True
    full[1, :, 2:] = True
    visible = visible_masks(full)
    assert visible[1].sum() == 8
    assert visible[0].sum() == 8
    assert not (visible[0] & visible[1]).any()


def test_polygons_rasterize_back_exactly_with_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        mask = rng.random((h, w)) < 0.55 if trial % 2 else np.zeros((h, w), bool)
        if trial % 2 == 0:  # a blob with a hole
            mask[h // 5 : h - h // 5, w // 5 : w - w // 5] = True
            mask[h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1] = False
        if not mask.any():
            continue
        polygons = mask_to_polygons(mask)
        assert all(len(p) >= 8 and len(p) % 2 == 0 for p in polygons)
        decoded = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))).astype(bool)
        np.testing.assert_array_equal(decoded, mask)
        assert (
            mask_bbox(mask) == mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))).tolist()
        )


# --- COCO ----------------------------------------------------------------------------------------------------------


def test_coco_masks_match_area_and_bbox(coco_root: Path) -> None:
    for split in ("train", "val"):
        coco = quiet_coco(coco_root / "annotations" / f"instances_{split}.json")
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(SHAPES)
        assert len(coco.imgs) == (10 if split == "train" else 3)
        assert len(coco.anns) >= 2 * len(coco.imgs)
        for ann in coco.loadAnns(coco.getAnnIds()):
            mask = coco.annToMask(ann).astype(bool)
            assert mask.sum() == ann["area"] > 0
            assert ann["bbox"] == mask_bbox(mask)
            assert ann["iscrowd"] == 0
            assert isinstance(ann["segmentation"], list)
        for image in coco.imgs.values():
            assert (coco_root / split / image["file_name"]).is_file()
            assert Image.open(coco_root / split / image["file_name"]).size == (image["width"], image["height"])


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_coco_eval_of_ground_truth_against_itself_is_perfect(coco_root: Path, iou_type: str) -> None:
    gt = quiet_coco(coco_root / "annotations" / "instances_train.json")
    dets = []
    for ann in gt.loadAnns(gt.getAnnIds()):
        rle = gt.annToRLE(ann)
        rle = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
        dets.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "bbox": ann["bbox"],
                "segmentation": rle,
                "score": 1.0,
            }
        )
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(dets), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)


def test_coco_rle_variant_encodes_the_same_masks(coco_root: Path, tmp_path: Path) -> None:
    rle_root = make_coco(tmp_path / "rle", seed=1, image_size=96, num_train=10, num_val=3, segmentation="rle")
    poly = quiet_coco(coco_root / "annotations" / "instances_train.json")
    rle = quiet_coco(rle_root / "annotations" / "instances_train.json")
    assert poly.anns.keys() == rle.anns.keys()
    for ann_id, ann in rle.anns.items():
        assert isinstance(ann["segmentation"]["counts"], str)
        np.testing.assert_array_equal(rle.annToMask(ann), poly.annToMask(poly.anns[ann_id]))
        assert ann["area"] == poly.anns[ann_id]["area"]
        assert ann["bbox"] == poly.anns[ann_id]["bbox"]
    assert (rle_root / "train").is_dir()
    assert digests(rle_root / "train") == digests(coco_root / "train")


def test_coco_captions_and_class_split(coco_root: Path) -> None:
    split = json.loads((coco_root / "annotations" / "class_split.json").read_text())
    assert sorted(split["seen"] + split["unseen"]) == sorted(SHAPES)
    assert split["unseen"]
    instances = json.loads((coco_root / "annotations" / "instances_val.json").read_text())
    assert instances["info"]["class_split"] == split
    captions = quiet_coco(coco_root / "annotations" / "captions_val.json")
    assert set(captions.imgs) == {image["id"] for image in instances["images"]}
    for image_id in captions.imgs:
        texts = [a["caption"] for a in captions.imgToAnns[image_id]]
        assert len(texts) == 2
        assert all(t and t[0].islower() for t in texts)
    first = instances["annotations"][0]
    assert first["attributes"]["colour"] in captions.imgToAnns[first["image_id"]][0]["caption"]


# --- ADE20K --------------------------------------------------------------------------------------------------------


def test_ade20k_label_maps(tmp_path: Path) -> None:
    from vislite_common.data.formats import ade20k_pairs

    root = make_ade20k(tmp_path / "ade", seed=0, image_size=64, num_train=4, num_val=2)
    classes = json.loads((root / "classes.json").read_text())
    k = classes["num_classes"]
    assert classes["ignore_index"] == 0
    assert [c["index"] for c in classes["classes"]] == list(range(k + 1))
    assert [c["name"] for c in classes["classes"]][1 : len(SHAPES) + 1] == list(SHAPES)
    seen: set[int] = set()
    for split, count in (("training", 4), ("validation", 2)):
        pairs = ade20k_pairs(root, split)
        assert len(pairs) == count
        for image_path, label_path in pairs:
            assert image_path.stem == label_path.stem
            assert image_path.stem.startswith("ADE_")
            label_image = Image.open(label_path)
            assert label_image.mode == "L"
            assert label_image.size == Image.open(image_path).size == (64, 64)
            label = np.asarray(label_image)
            assert label.max() <= k
            seen |= set(np.unique(label).tolist())
    assert seen & set(range(1, len(SHAPES) + 1)), "some shape (thing) labels"
    assert seen & set(range(len(SHAPES) + 1, k + 1)), "some stuff labels"


# --- CLI -----------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # a fresh interpreter importing torch: a few seconds
def test_cli_writes_every_layout(tmp_path: Path) -> None:
    args = [
        "make-world",
        "--task",
        "all",
        "--out",
        str(tmp_path / "w"),
        "--size",
        "48",
        "--num",
        "1",
        "--num-val",
        "1",
        "--frames",
        "3",
        "--seed",
        "2",
        "--segmentation",
        "rle",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "vislite_common.data.world.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(tmp_path / "w" / t) for t in TINY]
    for task in TINY:
        manifest = json.loads((tmp_path / "w" / task / MANIFEST).read_text())
        assert manifest["complete"]
        assert manifest["params"]["seed"] == 2
    assert json.loads((tmp_path / "w" / "lasot" / MANIFEST).read_text())["params"]["frame_size"] == [48, 36]
    assert Image.open(tmp_path / "w" / "classification" / "val" / "star" / "star_00001.jpg").size == (48, 48)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "coco", "--frames", "3"], "--frames applies to lasot and got10k only"),
        (["--task", "lasot", "--num-val", "2"], "--num-val does not apply"),
        (["--task", "coco", "--size", "64x48"], "must be a single number"),
        (["--task", "ade20k", "--size", "big"], "expected a size"),
        (["--task", "mnist"], "invalid choice"),
        (["--task", "coco", "--seed", "-3"], "non-negative"),
    ],
)
def test_cli_rejects_bad_arguments(args: list[str], message: str, tmp_path: Path, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["make-world", "--out", str(tmp_path / "w"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
