"""Detection drawings: a PNG of the image's size with boxes in their class colours and ground truth in white."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vislite_common.data.world import make_coco
from vislite_detection.data import CocoDetection
from vislite_detection.viz import draw_detections
from vislite_detection.viz.draw import PALETTE


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_draws_boxes_labels_and_ground_truth(tmp_path: Path) -> None:
    image = torch.zeros(3, 60, 80)
    boxes = torch.tensor([[10.0, 10.0, 40.0, 50.0], [45.0, 5.0, 75.0, 30.0]])
    out = draw_detections(image, boxes, torch.tensor([1, 3]), torch.tensor([0.9, 0.2]), ["a", "b", "c"],
                          tmp_path / "viz" / "det.png", gt_boxes=torch.tensor([[5.0, 35.0, 20.0, 55.0]]),
                          score_thr=0.5)  # fmt: skip
    drawn = np.asarray(Image.open(out).convert("RGB"))
    assert drawn.shape == (60, 80, 3)
    assert tuple(drawn[30, 10]) == _rgb(PALETTE[0])  # left edge of the kept detection, class 1's colour
    assert tuple(drawn[45, 5]) == (255, 255, 255)  # ground truth in white
    assert tuple(drawn[20, 60]) == (0, 0, 0) and tuple(drawn[5, 60]) == (0, 0, 0)  # below score_thr: not drawn


def test_draws_a_world_image_with_its_boxes(tmp_path: Path) -> None:
    world = make_coco(tmp_path / "coco", seed=0, image_size=64, num_train=2, num_val=1)
    dataset = CocoDetection(image_dir=world / "train", ann_file=world / "annotations/instances_train.json")
    image, target = dataset[0]
    scores = torch.linspace(1.0, 0.5, len(target["boxes"]))
    out = draw_detections(image, target["boxes"], target["labels"], scores, dataset.category_names,
                          tmp_path / "world.png", gt_boxes=target["boxes"])  # fmt: skip
    drawn = np.asarray(Image.open(out).convert("RGB")).astype(int)
    original = (image.permute(1, 2, 0).numpy() * 255).round().astype(int)
    assert drawn.shape == original.shape and np.abs(drawn - original).max() > 100  # boxes changed pixels
    x1, y1 = (int(v) for v in target["boxes"][0, :2])
    colour = _rgb(PALETTE[(int(target["labels"][0]) - 1) % len(PALETTE)])
    assert tuple(drawn[min(y1 + 3, 63), x1]) == colour


def test_rejects_images_that_are_not_rgb(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"image must be \(3, H, W\)"):
        draw_detections(torch.zeros(1, 8, 8), torch.zeros(0, 4), torch.zeros(0), None, [], tmp_path / "x.png")
