"""Box quality: one-to-one matching by IoU (lap) on hand-built cases, and on noisy COCO files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.ops import box_iou

from vislite_common.data.world import make_coco
from vislite_detection.noise import add_box_noise
from vislite_detection.quality import box_quality, coco_box_quality, match_boxes

C1, C2 = [0.0, 0.0, 10.0, 10.0], [6.0, 0.0, 16.0, 10.0]
A1, A2 = [2.0, 0.0, 12.0, 10.0], [-5.0, 0.0, 5.0, 10.0]  # A1: IoU 2/3 with C1, 3/7 with C2; A2: 1/3 with C1, 0 with C2


def test_identical_boxes_match_with_iou_one() -> None:
    clean = tv_tensors.BoundingBoxes([C2, C1], format="XYXY", canvas_size=(20, 20))
    result = box_quality([torch.tensor([C1, C2], requires_grad=True)], [clean])
    assert result == {"mean_iou": 1.0, "num_matched": 2, "unmatched": 0, "unmatched_boxes": 0, "num_boxes": 2,
                      "num_clean": 2}  # fmt: skip


def test_hungarian_beats_greedy_matching() -> None:
    box_index, clean_index, iou = match_boxes([A1, A2], [C1, C2])
    assert dict(zip(box_index.tolist(), clean_index.tolist())) == {0: 1, 1: 0}  # greedy would take A1-C1 only
    np.testing.assert_allclose(iou, [3 / 7, 1 / 3])
    result = box_quality([np.array([A1, A2])], [np.array([C1, C2])])
    assert result["mean_iou"] == pytest.approx(8 / 21) and result["unmatched"] == 0


def test_non_overlapping_and_extra_boxes_stay_unmatched() -> None:
    far = [50.0, 50.0, 60.0, 60.0]
    half = [0.0, 0.0, 10.0, 5.0]  # IoU 0.5 with C1
    result = box_quality([[half, far, [100.0, 0.0, 110.0, 5.0]], []], [[C1, [200.0, 200.0, 210.0, 210.0]], [C2]])
    assert result == {"mean_iou": 0.5, "num_matched": 1, "unmatched": 2, "unmatched_boxes": 2, "num_boxes": 3,
                      "num_clean": 3}  # fmt: skip


def test_no_boxes_at_all() -> None:
    assert box_quality([np.zeros((0, 4))], [np.zeros((0, 4))])["mean_iou"] == 0.0
    with pytest.raises(ValueError, match="one entry per image"):
        box_quality([[C1]], [])


def test_matching_is_optimal_on_random_boxes() -> None:
    from itertools import permutations

    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.uniform(0, 20, (4, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(3, 15, (4, 2))], axis=1)
        xy = rng.uniform(0, 20, (4, 2))
        clean = np.concatenate([xy, xy + rng.uniform(3, 15, (4, 2))], axis=1)
        iou = box_iou(torch.tensor(boxes), torch.tensor(clean)).numpy()
        best = max(sum(iou[i, p[i]] for i in range(4)) for p in permutations(range(4)))
        assert match_boxes(boxes, clean)[2].sum() == pytest.approx(best)


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = make_coco(tmp_path_factory.mktemp("coco"), seed=2, image_size=64, num_train=16, num_val=2)
    return world / "annotations/instances_train.json"


def _pair_iou(noisy: dict) -> np.ndarray:
    def xyxy(box: list[float]) -> list[float]:
        return [box[0], box[1], box[0] + box[2], box[1] + box[3]]

    boxes = torch.tensor([xyxy(a["bbox"]) for a in noisy["annotations"]], dtype=torch.float64)
    clean = torch.tensor([xyxy(a["clean_bbox"]) for a in noisy["annotations"]], dtype=torch.float64)
    return box_iou(boxes, clean).diagonal().numpy()


def test_noisy_file_quality_falls_with_gamma(clean_file: Path) -> None:
    clean = json.loads(clean_file.read_text())
    figures = {}
    for gamma in (0.05, 0.1):
        noisy = add_box_noise(clean, gamma=gamma, seed=0)
        quality = coco_box_quality(noisy, clean)
        assert quality["num_clean"] == quality["num_boxes"] == len(clean["annotations"])
        assert quality["mean_iou"] >= _pair_iou(noisy).mean() - 1e-9  # the optimum is at least the true pairing
        assert quality["mean_iou"] == pytest.approx(_pair_iou(noisy).mean(), abs=0.01)
        figures[gamma] = quality["mean_iou"]
    assert 0.95 > figures[0.05] > figures[0.1] > 0.6
    assert coco_box_quality(clean, clean)["mean_iou"] == pytest.approx(1.0)


def test_result_lists_are_filtered_by_score(clean_file: Path) -> None:
    clean = json.loads(clean_file.read_text())
    anns = clean["annotations"]
    results = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9} for a in anns]
    results.append({"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.01})
    assert coco_box_quality(results, clean, min_score=0.5)["unmatched_boxes"] == 0
    assert coco_box_quality(results, clean)["num_boxes"] == len(clean["annotations"]) + 1
