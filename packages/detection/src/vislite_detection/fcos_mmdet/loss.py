"""mmdetection 2.x FCOS losses: sigmoid focal loss, centerness-weighted GIoU, centerness BCE."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vislite_detection.fcos_mmdet.points import REGRESS_RANGES, STRIDES, fcos_points
from vislite_detection.fcos_mmdet.precision import box_dtype, full_precision
from vislite_detection.fcos_mmdet.targets import fcos_targets

CLS_NORMALIZERS = ("num_pos+num_imgs", "num_pos")
GIOU_EPS = 1e-6


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, *, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Elementwise focal loss of ``logits`` against 0/1 ``targets`` (same shape), mmdetection's formula."""
    prob = logits.sigmoid()
    pt = (1 - prob) * targets + prob * (1 - targets)
    weight = (alpha * targets + (1 - alpha) * (1 - targets)) * pt.pow(gamma)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weight


def distance2bbox(points: Tensor, distances: Tensor) -> Tensor:
    """Boxes [N, 4] (x1, y1, x2, y2) from points [N, 2] and distances [N, 4] (l, t, r, b); no clipping."""
    return torch.cat((points - distances[:, :2], points + distances[:, 2:]), dim=-1)


def aligned_giou(pred: Tensor, target: Tensor, eps: float = GIOU_EPS) -> Tensor:
    """GIoU [N] of corresponding boxes; union and enclosing area floored at ``eps`` (mmdetection's formula)."""
    area_pred = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_target = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    wh = (torch.minimum(pred[:, 2:], target[:, 2:]) - torch.maximum(pred[:, :2], target[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    floor = pred.new_tensor([eps])
    union = torch.max(area_pred + area_target - overlap, floor)
    enclose = (torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])).clamp(min=0)
    enclose_area = torch.max(enclose[:, 0] * enclose[:, 1], floor)
    return overlap / union - (enclose_area - union) / enclose_area


def centerness_target(distances: Tensor) -> Tensor:
    """sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) of distances [N, 4] (l, t, r, b)."""
    left_right, top_bottom = distances[:, [0, 2]], distances[:, [1, 3]]
    ratio_x = left_right.min(dim=-1).values / left_right.max(dim=-1).values
    ratio_y = top_bottom.min(dim=-1).values / top_bottom.max(dim=-1).values
    return torch.sqrt(ratio_x * ratio_y)


def flatten_levels(maps: Sequence[Tensor], channels: int, dtype: torch.dtype) -> Tensor:
    """Per-level maps [B, K, H, W] as one [B, P, K] tensor (row-major within a level, levels concatenated)."""
    return torch.cat([m.to(dtype).permute(0, 2, 3, 1).reshape(m.shape[0], -1, channels) for m in maps], dim=1)


def _check_outputs(
    cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor], centernesses: Sequence[Tensor], strides: Sequence[int]
) -> None:
    if not len(cls_scores) == len(bbox_preds) == len(centernesses) <= len(strides):
        raise ValueError(
            f"need one map per level, at most one per stride {tuple(strides)}: got {len(cls_scores)} cls_scores, "
            f"{len(bbox_preds)} bbox_preds, {len(centernesses)} centernesses"
        )
    for level, (cls, box, ctr) in enumerate(zip(cls_scores, bbox_preds, centernesses)):
        batch, _, height, width = cls.shape
        if tuple(box.shape) != (batch, 4, height, width) or tuple(ctr.shape) != (batch, 1, height, width):
            raise ValueError(
                f"level {level}: bbox_preds must be [{batch}, 4, {height}, {width}] and centernesses "
                f"[{batch}, 1, {height}, {width}], got {tuple(box.shape)} and {tuple(ctr.shape)}"
            )


def fcos_loss(
    cls_scores: Sequence[Tensor],
    bbox_preds: Sequence[Tensor],
    centernesses: Sequence[Tensor],
    gt_boxes: Sequence[Tensor],
    gt_labels: Sequence[Tensor],
    *,
    num_classes: int,
    strides: Sequence[int] = STRIDES,
    regress_ranges: Sequence[Sequence[float]] = REGRESS_RANGES,
    center_sampling: bool = True,
    center_sample_radius: float = 1.5,
    norm_on_bbox: bool = True,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
    cls_normalizer: str = "num_pos+num_imgs",
) -> dict[str, Tensor]:
    """mmdetection 2.8 ``FCOSHead.loss``: ``loss_cls``, ``loss_bbox``, ``loss_centerness``.

    Inputs per level: ``cls_scores`` [B, C, H, W] logits, ``bbox_preds`` [B, 4, H, W] train-mode distances
    (relu(Scale(x)), in stride units with ``norm_on_bbox``), ``centernesses`` [B, 1, H, W] logits; per image
    ``gt_boxes`` [n, 4] and ``gt_labels`` [n] in 0..C-1.

    * ``loss_cls``: summed focal loss / (num_pos + B) (``"num_pos+num_imgs"``, mmdet 2.8's ``FCOSHead``) or
      / max(num_pos, 1) (``"num_pos"``, NDet's ``FCOSNHead``).
    * ``loss_bbox``: sum of c * (1 - GIoU) / sum of c over positives, c the centerness target (boxes decoded at
      the points, predictions and targets in the same units).
    * ``loss_centerness``: mean BCE-with-logits over positives against c.
    With no positive point both are 0 and stay connected to the graph. Computed in the logits' dtype (float64
    stays float64, others in float32), never under autocast.
    """
    if cls_normalizer not in CLS_NORMALIZERS:
        raise ValueError(f"cls_normalizer must be one of {CLS_NORMALIZERS}, got {cls_normalizer!r}")
    _check_outputs(cls_scores, bbox_preds, centernesses, strides)
    if cls_scores[0].shape[1] != num_classes:
        raise ValueError(f"cls_scores have {cls_scores[0].shape[1]} channels, expected num_classes={num_classes}")
    batch = cls_scores[0].shape[0]
    if len(gt_boxes) != batch:
        raise ValueError(f"gt_boxes holds {len(gt_boxes)} images but the maps hold {batch}")
    dtype, device = box_dtype(cls_scores[0]), cls_scores[0].device
    sizes = [tuple(m.shape[-2:]) for m in cls_scores]
    with full_precision(device):
        labels, targets = fcos_targets(
            sizes,
            [b.to(device=device, dtype=dtype) for b in gt_boxes],
            [lb.to(device) for lb in gt_labels],
            num_classes=num_classes,
            strides=strides,
            regress_ranges=regress_ranges,
            center_sampling=center_sampling,
            center_sample_radius=center_sample_radius,
            norm_on_bbox=norm_on_bbox,
        )  # [B, P], [B, P, 4]
        cls = flatten_levels(cls_scores, num_classes, dtype)  # [B, P, C]
        box = flatten_levels(bbox_preds, 4, dtype)  # [B, P, 4]
        ctr = flatten_levels(centernesses, 1, dtype)[..., 0]  # [B, P]
        onehot = F.one_hot(labels, num_classes + 1)[..., :num_classes].to(dtype)  # background row all 0
        positive = labels < num_classes  # [B, P]
        num_pos = int(positive.sum())
        normaliser = float(num_pos + batch) if cls_normalizer == "num_pos+num_imgs" else float(max(num_pos, 1))
        loss_cls = sigmoid_focal_loss(cls, onehot, alpha=focal_alpha, gamma=focal_gamma).sum() / normaliser
        pos_box, pos_ctr = box[positive], ctr[positive]  # [N, 4], [N]
        if num_pos == 0:
            return {"loss_cls": loss_cls, "loss_bbox": pos_box.sum(), "loss_centerness": pos_ctr.sum()}
        points = torch.cat(fcos_points(sizes, strides, dtype=dtype, device=device))  # [P, 2]
        pos_points = points[None].expand(batch, -1, -1)[positive]  # [N, 2]
        pos_targets = targets[positive]  # [N, 4]
        weight = centerness_target(pos_targets)  # [N]
        giou = aligned_giou(distance2bbox(pos_points, pos_box), distance2bbox(pos_points, pos_targets))
        loss_bbox = (weight * (1 - giou)).sum() / weight.sum()
        loss_centerness = F.binary_cross_entropy_with_logits(pos_ctr, weight, reduction="mean")
        return {"loss_cls": loss_cls, "loss_bbox": loss_bbox, "loss_centerness": loss_centerness}
