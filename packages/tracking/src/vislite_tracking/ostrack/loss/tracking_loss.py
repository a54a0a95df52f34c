"""OSTrack's training objective: 2 * GIoU + 5 * L1 on normalised boxes + 1 * focal on the score map."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import box_convert, box_iou, generalized_box_iou_loss

from vislite_tracking.ostrack.loss.focal import centernet_focal_loss
from vislite_tracking.ostrack.loss.heatmap import centre_heatmaps


class TrackingLoss(nn.Module):
    """``forward(outputs, target_boxes)`` -> ``{"loss", "giou", "l1", "focal", "iou"}``.

    ``outputs`` is the network's dict (``boxes`` ``[B, 4]`` cx, cy, w, h and ``score_map`` ``[B, 1, g, g]``);
    ``target_boxes`` ``[B, 4]`` are x, y, w, h normalised to the search crop. Boxes are compared as xyxy with the
    target clamped to [0, 1]; the focal term uses Gaussian centre targets. NaN predictions raise ``ValueError``.
    """

    def __init__(
        self, *, giou_weight: float = 2.0, l1_weight: float = 5.0, focal_weight: float = 1.0, min_overlap: float = 0.7
    ) -> None:
        super().__init__()
        self.giou_weight, self.l1_weight, self.focal_weight = giou_weight, l1_weight, focal_weight
        self.min_overlap = min_overlap

    def forward(self, outputs: dict[str, torch.Tensor], target_boxes: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = outputs["boxes"]
        if torch.isnan(pred).any():
            raise ValueError("network outputs are NaN: stop training (lower the learning rate or check the data)")
        pred_xyxy = box_convert(pred, "cxcywh", "xyxy")  # [B, 4]
        target_xyxy = box_convert(target_boxes, "xywh", "xyxy").clamp(0.0, 1.0)  # [B, 4]
        giou = generalized_box_iou_loss(pred_xyxy, target_xyxy, reduction="mean")
        l1 = nn.functional.l1_loss(pred_xyxy, target_xyxy)
        heatmaps = centre_heatmaps(target_boxes, outputs["score_map"].shape[-1], self.min_overlap)
        focal = centernet_focal_loss(outputs["score_map"], heatmaps)
        loss = self.giou_weight * giou + self.l1_weight * l1 + self.focal_weight * focal
        with torch.no_grad():
            iou = box_iou(pred_xyxy.float(), target_xyxy.float()).diagonal().mean()
        return {"loss": loss, "giou": giou, "l1": l1, "focal": focal, "iou": iou}
