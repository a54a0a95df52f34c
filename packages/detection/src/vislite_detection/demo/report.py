"""The demo's box-quality figures and its picture of noisy, corrected and clean boxes."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torchvision.io import decode_png, read_file

from vislite_detection.data import CocoDetection
from vislite_detection.models import DetectionTransform, create_detector
from vislite_detection.ndet import FCOSBoxCorrector, corrected_dataset_boxes, load_teacher
from vislite_detection.quality import box_quality
from vislite_detection.viz import draw_detections


def _corrector(teacher_ckpt: Path) -> FCOSBoxCorrector:
    return FCOSBoxCorrector(teacher=load_teacher(detector=create_detector("test_fcos"), checkpoint=teacher_ckpt))


def box_quality_table(dataset: CocoDetection, teacher_ckpt: Path) -> tuple[dict[str, float], int]:
    """Mean IoU to the clean boxes of the clean (1.0), noisy and teacher-corrected training boxes, and the index
    of an image with several objects to draw."""
    rows = list(corrected_dataset_boxes(dataset, _corrector(teacher_ckpt), DetectionTransform()))
    clean = [row[3] for row in rows]
    quality = {
        "clean": box_quality(clean, clean)["mean_iou"],
        "noisy": box_quality([row[1] for row in rows], clean)["mean_iou"],
        "corrected": box_quality([row[2] for row in rows], clean)["mean_iou"],
    }
    example = max(range(len(rows)), key=lambda i: min(len(rows[i][1]), 4))
    return quality, example


def draw_box_comparison(dataset: CocoDetection, index: int, teacher_ckpt: Path, out_png: Path) -> Path:
    """Two panels side by side: noisy boxes (left) and corrected boxes (right), clean boxes in white on both."""
    image, target = dataset[index]
    (_, noisy, fixed, clean), *_ = corrected_dataset_boxes(
        _Single(dataset, index), _corrector(teacher_ckpt), DetectionTransform()
    )
    names = dataset.category_names
    left = draw_detections(image, noisy, target["labels"], None, names, out_png.with_suffix(".noisy.png"), clean)
    right = draw_detections(image, fixed, target["labels"], None, names, out_png.with_suffix(".corrected.png"), clean)
    panels = [decode_png(read_file(str(p))) for p in (left, right)]
    gap = torch.full((3, panels[0].shape[1], 4), 255, dtype=torch.uint8)
    draw_detections(
        torch.cat([panels[0], gap, panels[1]], dim=2), torch.zeros(0, 4), torch.zeros(0), None, names, out_png
    )
    left.unlink()
    right.unlink()
    return out_png


class _Single(torch.utils.data.Dataset):
    """One item of a dataset, as a dataset."""

    def __init__(self, dataset: CocoDetection, index: int) -> None:
        self.dataset, self.index = dataset, index

    def __len__(self) -> int:
        return 1

    def __getitem__(self, _: int) -> tuple[Tensor, dict]:
        return self.dataset[self.index]
