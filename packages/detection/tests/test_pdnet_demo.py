"""The PDNet demo's pieces: the point drawing (>= 512 px pictures) and the comparison table."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.io import decode_png, read_file

from vislite_detection.pdnet.demo import table
from vislite_detection.pdnet.draw import draw_dynamic_points


def test_points_are_drawn_on_an_upscaled_picture(tmp_path: Path) -> None:
    detections = {
        "boxes": torch.tensor([[20.0, 30.0, 60.0, 90.0], [0.0, 0.0, 5.0, 5.0], [21.0, 30.0, 60.0, 90.0]]),
        "scores": torch.tensor([0.9, 0.1, 0.5]),
        "labels": torch.tensor([2, 1, 1]),
        "boundary_points": torch.tensor([[[40.0, 30.0], [20.0, 60.0], [40.0, 90.0], [60.0, 60.0]]]).repeat(3, 1, 1),
        "semantic_points": torch.rand(3, 9, 2) * 100,
    }
    path = tmp_path / "points.png"
    drawn = draw_dynamic_points(torch.zeros(3, 128, 100), detections, ["a", "b"], path)
    assert drawn == 1  # 0.1 is under the score threshold, the 0.5 box overlaps the 0.9 one
    picture = decode_png(read_file(str(path)))
    assert picture.shape == (3, 128 * 6, 100 * 6)  # ceil(512 / 100) = 6
    top = picture[:, 30 * 6, 40 * 6]  # the top boundary point, yellow
    assert top.tolist() == [255, 225, 25]


def test_table_lists_both_detectors() -> None:
    results = {"PDNet": ({"val/AP": 0.123, "val/AP50": 0.3}, 10.0), "FCOS": ({"val/AP": 0.1}, 12.0)}
    text = table(results, images=160, epochs=12)
    assert "| PDNet | 12.3 | 30.0 |" in text and "| FCOS | 10.0 |" in text and "160 training images x 12" in text
