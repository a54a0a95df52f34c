"""Noisy boxes: corner statistics, validity after redraws, clean boxes kept, determinism, reading back."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vislite_common.data.world import make_coco
from vislite_detection.data import CocoDetection
from vislite_detection.noise import add_box_noise, jitter_boxes, select_boxes


def _synthetic_coco(num: int = 4000, seed: int = 0) -> dict[str, Any]:
    """Boxes well inside large images, so redraws (which bias the statistics) are rare."""
    rng = np.random.default_rng(seed)
    anns = []
    for i in range(num):
        w, h = rng.uniform(20, 200, 2)
        anns.append({"id": i + 1, "image_id": 1 + i % 10, "category_id": 1, "bbox": [400.0, 300.0, w, h],
                     "area": w * h, "iscrowd": 0})  # fmt: skip
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 1000, "height": 800} for i in range(1, 11)]
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}


@pytest.mark.parametrize("gamma", [0.05, 0.1])
def test_corner_noise_has_zero_mean_and_std_gamma_times_size(gamma: float) -> None:
    clean = _synthetic_coco()
    noisy = add_box_noise(clean, gamma=gamma, seed=0)
    errors = []
    for before, after in zip(clean["annotations"], noisy["annotations"]):
        x, y, w, h = before["bbox"]
        nx, ny, nw, nh = after["bbox"]
        corners = np.array([nx - x, ny - y, nx + nw - (x + w), ny + nh - (y + h)])
        errors.append(corners / (gamma * np.array([w, h, w, h])))
    normalised = np.array(errors)  # [N, 4] standard normal draws (up to rounding)
    assert np.abs(normalised.mean(axis=0)).max() < 0.05
    np.testing.assert_allclose(normalised.std(axis=0), 1.0, atol=0.05)
    correlation = np.corrcoef(normalised.T)[np.triu_indices(4, 1)]
    assert np.abs(correlation).max() < 0.06  # the four corners are independent


def test_noisy_boxes_are_valid_even_at_the_border() -> None:
    boxes = np.array([[0.0, 0.0, 2.0, 2.0], [98.0, 48.0, 100.0, 50.0], [10.0, 10.0, 11.0, 11.0]] * 200)
    sizes = np.array([[100.0, 50.0]] * len(boxes))
    out = jitter_boxes(boxes, sizes, gamma=2.0, rng=np.random.default_rng(0))
    assert (out[:, 2] - out[:, 0] >= 1).all() and (out[:, 3] - out[:, 1] >= 1).all()
    assert (out[:, 0] < 100).all() and (out[:, 2] > 0).all() and (out[:, 1] < 50).all() and (out[:, 3] > 0).all()
    np.testing.assert_allclose(out, np.round(out, 2))
    assert not np.allclose(out, boxes)


def test_no_valid_draw_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="box 0 has no valid noisy draw"):
        jitter_boxes(np.array([[0.0, 0.0, 0.5, 0.5]]), np.array([[10.0, 10.0]]), gamma=0.0,
                     rng=np.random.default_rng(0), max_draws=5)  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco"), seed=1, image_size=64, num_train=6, num_val=2)


def test_world_file_gets_noise_with_clean_boxes_kept(world: Path, tmp_path: Path) -> None:
    clean = json.loads((world / "annotations/instances_train.json").read_text())
    clean["annotations"][0]["iscrowd"] = 1
    original = copy.deepcopy(clean)
    noisy = add_box_noise(clean, gamma=0.1, seed=7)
    assert clean == original  # the input is left alone
    num = len(original["annotations"])
    assert noisy["info"]["box_noise"] == {"gamma": 0.1, "seed": 7, "model": "corner gaussian, std gamma*w/h",
                                          "noised": num - 1, "copied_crowd": 1, "copied_invalid": 0}  # fmt: skip
    crowd, *instances = zip(original["annotations"], noisy["annotations"])
    assert crowd[1] == {**crowd[0], "clean_bbox": crowd[0]["bbox"]}  # copied unchanged
    moved = 0
    for before, after in instances:
        assert after["clean_bbox"] == before["bbox"] and after["area"] == before["area"]  # area stays clean
        assert after["segmentation"] == before["segmentation"] and after["id"] == before["id"]
        x, y, w, h = after["bbox"]
        assert w >= 1 and h >= 1 and x < 64 and y < 64 and x + w > 0 and y + h > 0
        moved += after["bbox"] != before["bbox"]
    assert moved == len(instances)
    assert add_box_noise(clean, gamma=0.1, seed=7) == noisy
    assert add_box_noise(clean, gamma=0.1, seed=8)["annotations"] != noisy["annotations"]

    path = tmp_path / "noisy.json"
    path.write_text(json.dumps(noisy))
    _, target = CocoDetection(image_dir=world / "train", ann_file=path)[0]
    first = [after for _, after in instances if after["image_id"] == target["image_id"]]
    cx, cy, cw, ch = first[0]["clean_bbox"]
    assert target["clean_boxes"][0].tolist() == pytest.approx([cx, cy, cx + cw, cy + ch])
    assert target["boxes"].shape == target["clean_boxes"].shape


def test_zero_gamma_keeps_boxes_and_negative_gamma_is_refused(world: Path) -> None:
    clean = json.loads((world / "annotations/instances_train.json").read_text())
    same = add_box_noise(clean, gamma=0.0, seed=0)
    assert [a["bbox"] for a in same["annotations"]] == [a["bbox"] for a in clean["annotations"]]
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        add_box_noise(clean, gamma=-0.1, seed=0)


def _with_bad_boxes(world: Path) -> dict[str, Any]:
    """The world's training file with a zero-height box (like two in COCO train2017) and a 0.5 px wide one."""
    data = json.loads((world / "annotations/instances_train.json").read_text())
    data["annotations"][0]["bbox"][3] = 0.0
    data["annotations"][0]["area"] = 0.0
    data["annotations"][1]["bbox"][2] = 0.5
    return data


def test_invalid_and_crowd_boxes_are_copied_unchanged_and_counted(world: Path) -> None:
    clean = _with_bad_boxes(world)
    clean["annotations"][2]["iscrowd"] = 1
    noisy = add_box_noise(clean, gamma=0.1, seed=0)
    for before, after in zip(clean["annotations"][:3], noisy["annotations"][:3]):
        assert after == {**before, "clean_bbox": before["bbox"]}  # zero-height, 0.5 px wide, crowd
    assert all(a["bbox"] != b["bbox"] for a, b in zip(clean["annotations"][3:], noisy["annotations"][3:]))
    counts = noisy["info"]["box_noise"]
    assert (counts["noised"], counts["copied_crowd"], counts["copied_invalid"]) == (len(clean["annotations"]) - 3, 1, 2)
    selection = select_boxes(clean)
    assert (selection.crowd, selection.invalid) == ([3], [1, 2])
    assert selection.summary().endswith("copied unchanged: 1 crowd, 2 invalid (ids 1, 2)")


def test_strict_mode_names_the_first_invalid_box(world: Path) -> None:
    with pytest.raises(ValueError, match=r"annotation id 1: bbox .* is not a valid box.*2 such box"):
        add_box_noise(_with_bad_boxes(world), gamma=0.1, seed=0, strict=True)
