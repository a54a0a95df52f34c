"""mmdetection 2.x's box losses for torchvision's Faster R-CNN: plain L1 in the RPN and in the RoI head.

torchvision regresses boxes with smooth L1 (beta 1/9) in both stages; mmdetection's ``faster_rcnn_r50_fpn_1x``
(and NDet's configs built on it) use ``L1Loss(loss_weight=1.0)``. The normalisation is the same in both libraries:
the RPN's sum over positive anchors is divided by the number of sampled anchors (positive + negative), the RoI
head's sum over positive RoIs (class-specific deltas) by the number of sampled RoIs. Only the losses change:
sampling, matching, box coding and inference are torchvision's own.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork


def rpn_l1_losses(
    rpn: RegionProposalNetwork,
    objectness: torch.Tensor,
    pred_bbox_deltas: torch.Tensor,
    labels: list[torch.Tensor],
    regression_targets: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(objectness BCE, L1 box loss) over the anchors ``rpn``'s sampler draws; deltas ``[A, 4]`` over all images."""
    positive, negative = rpn.fg_bg_sampler(labels)
    positive = torch.where(torch.cat(positive))[0]
    negative = torch.where(torch.cat(negative))[0]
    sampled = torch.cat([positive, negative])
    targets = torch.cat(regression_targets)
    box_loss = F.l1_loss(pred_bbox_deltas[positive], targets[positive], reduction="sum") / sampled.numel()
    objectness_loss = F.binary_cross_entropy_with_logits(objectness.flatten()[sampled], torch.cat(labels)[sampled])
    return objectness_loss, box_loss


def roi_l1_losses(
    class_logits: torch.Tensor,
    box_regression: torch.Tensor,
    labels: list[torch.Tensor],
    regression_targets: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, L1 box loss) of the sampled RoIs: logits ``[R, K]``, class-specific deltas ``[R, 4K]``."""
    labels_all, targets = torch.cat(labels), torch.cat(regression_targets)
    classification = F.cross_entropy(class_logits, labels_all)
    positive = torch.where(labels_all > 0)[0]
    deltas = box_regression.reshape(box_regression.shape[0], -1, 4)  # [R, K, 4]
    box_loss = F.l1_loss(deltas[positive, labels_all[positive]], targets[positive], reduction="sum")
    return classification, box_loss / labels_all.numel()


class L1RegionProposalNetwork(RegionProposalNetwork):
    """torchvision's RPN with :func:`rpn_l1_losses`."""

    def compute_loss(
        self,
        objectness: torch.Tensor,
        pred_bbox_deltas: torch.Tensor,
        labels: list[torch.Tensor],
        regression_targets: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return rpn_l1_losses(self, objectness, pred_bbox_deltas, labels, regression_targets)


class L1RoIHeads(RoIHeads):
    """torchvision's box RoI heads with :func:`roi_l1_losses` in training; inference is unchanged."""

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        if self.has_mask() or self.has_keypoint():
            raise NotImplementedError("L1RoIHeads computes box losses only; use torchvision's RoIHeads for masks")
        proposals, _, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        loss_classifier, loss_box_reg = roi_l1_losses(class_logits, box_regression, labels, regression_targets)
        return [], {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}


def use_l1_box_losses(model: FasterRCNN) -> FasterRCNN:
    """Switch ``model``'s RPN and RoI heads to the L1 box losses in place (their parts and weights are kept)."""
    model.rpn.__class__ = L1RegionProposalNetwork
    model.roi_heads.__class__ = L1RoIHeads
    return model
