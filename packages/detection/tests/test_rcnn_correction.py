"""Faster R-CNN box correction on hand-built proposals: selection, class-specific refinement, pooled fusion."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from vislite_detection.models import create_detector
from vislite_detection.ndet import FasterRCNNBoxCorrector

GT = torch.tensor([[4.0, 4.0, 24.0, 24.0], [30.0, 30.0, 50.0, 50.0]])
LABELS = torch.tensor([1, 2])
PROPOSALS = torch.tensor(
    [
        [4.0, 4.0, 24.0, 24.0],  # 0: IoU 1.0 with box 0, objectness 0.6
        [4.0, 4.0, 24.0, 20.0],  # 1: IoU 0.8 with box 0, objectness 0.8
        [4.0, 4.0, 24.0, 12.0],  # 2: IoU 0.4 with box 0, objectness 0.99: never selected
        [30.0, 30.0, 50.0, 50.0],  # 3: IoU 1.0 with box 1, objectness 0.7
        [4.0, 4.0, 24.0, 16.0],  # 4: IoU 0.6 with box 0, objectness 0.3
    ]
)
OBJECTNESS = torch.tensor([0.6, 0.8, 0.99, 0.7, 0.3])
CLASS_LOGITS = torch.tensor([0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # softmax: class 1 > class 2


class ShiftPredictor(nn.Module):
    """RoI predictor stub: the same class logits for every RoI, and a class-c box moved right by 0.02·c·w."""

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        num = features.shape[0]
        deltas = torch.zeros(num, CLASS_LOGITS.numel(), 4)
        deltas[:, :, 0] = 0.2 * torch.arange(CLASS_LOGITS.numel())  # dx / 10 (box coder weight) = 0.02·c
        return CLASS_LOGITS.expand(num, -1), deltas.flatten(1)


def _corrector(**kwargs: int) -> FasterRCNNBoxCorrector:
    torch.manual_seed(0)
    return FasterRCNNBoxCorrector(teacher=create_detector("test_faster_rcnn"), **kwargs)


def test_selection_keeps_the_most_objective_proposals_above_iou_half() -> None:
    index, valid = _corrector(proposals_per_box=2).select_proposals(GT, PROPOSALS, OBJECTNESS)
    # box 0: 1 (0.8) and 0 (0.6) beat 4 (0.3) by objectness; 2 (IoU 0.4) is out despite 0.99; box 1: only 3
    assert index[0].tolist() == [1, 0] and valid[0].tolist() == [True, True]
    assert index[1, 0] == 3 and valid[1].tolist() == [True, False]
    index, valid = _corrector().select_proposals(GT, PROPOSALS, OBJECTNESS)  # up to 100 each: all five scanned
    assert sorted(index[0][valid[0]].tolist()) == [0, 1, 4] and index[1][valid[1]].tolist() == [3]


def test_the_image_cap_drops_the_least_objective_selections() -> None:
    index, valid = _corrector(max_proposals=3).select_proposals(GT, PROPOSALS, OBJECTNESS)
    assert sorted(index[valid].tolist()) == [0, 1, 3]  # proposal 4 (objectness 0.3) goes


def _stubbed(proposals: Tensor, objectness: Tensor, **kwargs: int) -> FasterRCNNBoxCorrector:
    """A corrector whose RPN returns ``proposals`` and whose RoI predictor is :class:`ShiftPredictor`."""
    corrector = _corrector(**kwargs)
    corrector.teacher.roi_heads.box_predictor = ShiftPredictor()
    corrector.rpn_boxes = lambda images, features: (proposals[None], objectness[None])  # type: ignore[method-assign]
    return corrector


def _image(boxes: Tensor, labels: Tensor) -> tuple[ImageList, list[dict[str, Tensor]]]:
    transform = create_detector("test_faster_rcnn").transform
    return transform([torch.rand(3, 64, 64)], [{"boxes": boxes, "labels": labels}])


def test_refinement_is_class_specific_and_the_fusion_uses_it() -> None:
    corrector = _stubbed(PROPOSALS, OBJECTNESS)
    refined_inputs: list[Tensor] = []
    refine = corrector.refine

    def spy(features: dict[str, Tensor], proposals: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        refined_inputs.append(proposals)
        return refine(features, proposals, size)

    corrector.refine = spy  # type: ignore[method-assign]
    images, targets = _image(GT, LABELS)
    out = corrector(images, targets)[0]
    assert torch.equal(refined_inputs[0], PROPOSALS[[1, 0, 4, 3]])  # box 0's by objectness, then box 1's

    probs = CLASS_LOGITS.softmax(0)
    s1, s2 = float(probs[1]), float(probs[2])
    # box 0 (class 1): proposals 1, 0, 4 moved by 0.02 * 1 * 20 = 0.4 px; IoU with box 0 is 0.77, 0.96, 0.58
    # (the last too low); box 1's proposal 3 does not overlap it. Box 1 (class 2): proposal 3 moved by 0.8 px.
    p1, p0, p3 = PROPOSALS[1] + torch.tensor([0.4, 0, 0.4, 0]), GT[0] + torch.tensor([0.4, 0, 0.4, 0]), GT[1]
    expected = torch.stack(
        [
            (GT[0] + s1 * (p1 + p0)) / (1 + 2 * s1),
            (GT[1] + s2 * (p3 + torch.tensor([0.8, 0, 0.8, 0]))) / (1 + s2),
        ]
    )
    torch.testing.assert_close(out["boxes"], expected)
    assert math.isclose(s1, math.exp(2) / (math.exp(2) + math.exp(1) + 7), rel_tol=1e-6)
    assert torch.equal(out["noisy_boxes"], GT)


def test_each_box_is_fused_with_every_selected_proposal_of_its_image() -> None:
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [4.0, 0.0, 24.0, 20.0]])  # two class-1 boxes, IoU 0.67
    # a: IoU 0.82 with both boxes; b: IoU 0.48 with box 0 (not its proposal), 0.74 with box 1 (its top one)
    proposals = torch.tensor([[2.0, 0.0, 22.0, 20.0], [7.0, 0.0, 27.0, 20.0]])
    corrector = _stubbed(proposals, torch.tensor([0.9, 0.95]), proposals_per_box=1)
    images, targets = _image(boxes, torch.tensor([1, 1]))
    out = corrector(images, targets)[0]["boxes"]
    s = float(CLASS_LOGITS.softmax(0)[1])
    a, b = proposals + torch.tensor([0.4, 0.0, 0.4, 0.0])  # class 1 moves them by 0.4 px
    # box 0 selected a, box 1 selected b; box 1 also takes a (IoU 0.85 after refinement); b misses box 0 (0.46)
    expected = torch.stack([(boxes[0] + s * a) / (1 + s), (boxes[1] + s * (a + b)) / (1 + 2 * s)])
    torch.testing.assert_close(out, expected)
