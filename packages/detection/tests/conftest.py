"""Shared test helpers: an oracle FCOS teacher whose every location predicts the clean box it lies in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.image_list import ImageList

from vislite_detection.models import create_detector


class FixedHead(nn.Module):
    """An FCOS head that returns the same outputs whatever its features."""

    def __init__(self, outputs: dict[str, Tensor]) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, features: list[Tensor]) -> dict[str, Tensor]:
        return self.outputs


def oracle_fcos(
    images: ImageList, boxes: list[Tensor], labels: list[Tensor], *, jitter: float = 0.5, seed: int = 0
) -> FCOS:
    """A ``test_fcos`` whose locations inside a box (the smallest one holding them) predict it, moved by
    N(0, ``jitter``) px per corner, with class probability 0.95 and centerness 0.88; all others score ~0."""
    teacher = create_detector("test_fcos").eval()
    with torch.no_grad():
        features = list(teacher.backbone(images.tensors).values())
    anchors = teacher.anchor_generator(images, features)
    gen = torch.Generator().manual_seed(seed)
    num_classes = teacher.head.classification_head.num_classes
    cls, reg = [], []
    for anchor, gt, gt_labels in zip(anchors, boxes, labels):
        centre = (anchor[:, :2] + anchor[:, 2:]) / 2  # [P, 2]
        inside = ((centre[:, None] > gt[None, :, :2]) & (centre[:, None] < gt[None, :, 2:])).all(-1)  # [P, G]
        logits = torch.full((anchor.shape[0], num_classes), -8.0)
        pred = anchor.clone()
        if gt.shape[0]:
            area = (gt[:, 2:] - gt[:, :2]).prod(-1)
            owner = torch.where(inside, area[None], torch.inf).argmin(1)  # [P]
            hit = inside.any(1)
            noisy = gt[owner] + torch.randn(anchor.shape[0], 4, generator=gen) * jitter
            pred = torch.where(hit[:, None], noisy, anchor)
            logits[hit, gt_labels[owner[hit]]] = 3.0  # sigmoid 0.95
        cls.append(logits)
        reg.append(teacher.box_coder.encode(anchor, pred))
    outputs = {
        "cls_logits": torch.stack(cls),
        "bbox_regression": torch.stack(reg),
        "bbox_ctrness": torch.full((len(anchors), anchors[0].shape[0], 1), 2.0),  # sigmoid 0.88
    }
    teacher.head = FixedHead(outputs)
    return teacher


@pytest.fixture
def make_oracle() -> Callable[..., FCOS]:
    return oracle_fcos
