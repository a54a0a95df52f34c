"""mmdetection 2.x's L1 box losses for Faster R-CNN, by hand, and in a training step of the tiny detector."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vislite_detection.models import create_detector
from vislite_detection.models.l1_box_loss import L1RegionProposalNetwork, L1RoIHeads, roi_l1_losses, rpn_l1_losses


class _TakeAll:
    """A sampler that draws every positive (label 1) and negative (label 0) anchor."""

    def __call__(self, labels: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return [label == 1 for label in labels], [label == 0 for label in labels]


def test_rpn_l1_loss_by_hand() -> None:
    rpn = type("RPN", (), {"fg_bg_sampler": _TakeAll()})()
    labels = [torch.tensor([1.0, 0.0, -1.0]), torch.tensor([1.0, 0.0])]  # -1: ignored anchor
    deltas = torch.tensor([[0.5, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0], [7.0] * 4, [0.0, 0.05, 0.0, -0.2], [3.0] * 4])
    targets = [torch.zeros(3, 4), torch.zeros(2, 4)]
    objectness = torch.tensor([2.0, -1.0, 5.0, 0.0, 1.0])
    obj_loss, box_loss = rpn_l1_losses(rpn, objectness, deltas, labels, targets)
    # positives 0 and 3: |0.5| + |0.05| + |-0.2| = 0.75 over 4 sampled anchors (2 positive + 2 negative)
    assert float(box_loss) == pytest.approx(0.75 / 4)
    sampled = torch.tensor([0, 3, 1, 4])
    expected = F.binary_cross_entropy_with_logits(objectness[sampled], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert float(obj_loss) == pytest.approx(float(expected))
    smooth = F.smooth_l1_loss(deltas[[0, 3]], torch.zeros(2, 4), beta=1 / 9, reduction="sum") / 4
    assert float(smooth) != pytest.approx(float(box_loss))  # torchvision's loss differs on these small errors


def test_roi_l1_loss_uses_the_class_specific_deltas_of_positive_rois() -> None:
    logits = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])  # 3 RoIs, background + 2 classes
    regression = torch.zeros(3, 12)
    regression[0, 4:8] = torch.tensor([0.1, -0.1, 0.0, 0.0])  # RoI 0 is class 1
    regression[0, 8:12] = 5.0  # another class's deltas: never used
    regression[1] = 4.0  # background RoI: no box loss
    regression[2, 8:12] = torch.tensor([0.0, 0.0, 0.3, 0.0])  # RoI 2 is class 2
    labels = [torch.tensor([1, 0]), torch.tensor([2])]
    targets = [torch.zeros(2, 4), torch.zeros(1, 4)]
    classification, box_loss = roi_l1_losses(logits, regression, labels, targets)
    assert float(box_loss) == pytest.approx((0.1 + 0.1 + 0.3) / 3)  # over all 3 sampled RoIs
    assert float(classification) == pytest.approx(float(F.cross_entropy(logits, torch.tensor([1, 0, 2]))))


def test_tiny_faster_rcnn_trains_with_l1_losses_and_infers_as_before() -> None:
    torch.manual_seed(0)
    l1 = create_detector("test_faster_rcnn", num_classes=3)
    torch.manual_seed(0)
    smooth = create_detector("test_faster_rcnn", num_classes=3, box_loss="smooth_l1")
    assert isinstance(l1.rpn, L1RegionProposalNetwork) and isinstance(l1.roi_heads, L1RoIHeads)
    assert type(smooth.rpn).__name__ == "RegionProposalNetwork"
    images = [torch.rand(3, 96, 96)]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([1])}]
    with torch.no_grad():
        a, b = l1.eval()(images), smooth.eval()(images)
    torch.testing.assert_close(a[0]["boxes"], b[0]["boxes"])  # same weights, same inference
    torch.manual_seed(1)
    losses = l1.train()(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    sum(losses.values()).backward()
    assert l1.roi_heads.box_predictor.bbox_pred.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="box_loss"):
        create_detector("test_faster_rcnn", num_classes=3, box_loss="giou")
