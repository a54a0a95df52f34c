"""The attack objective: SiamFC++ losses against a fake box plus L2 penalties on the perturbations."""

from __future__ import annotations

import torch

from vislite_tracking.attack.placement import check_phase
from vislite_tracking.siamfcpp.loss import centerness_loss, focal_loss, iou_loss
from vislite_tracking.siamfcpp.targets import make_densebox_target

L2_Z = 0.005  # penalty weight of the template perturbation
L2_X = {"OURS": 0.005, "AP": 1e-5, "UAP": 0.005}  # penalty weight of the search patch, by phase
REG_WEIGHT = 3.0  # the IoU loss weight of video_analyst's SiamFC++ recipes


def attack_loss(
    cls_pred: torch.Tensor,
    ctr_pred: torch.Tensor,
    box_pred: torch.Tensor,
    fake_boxes: torch.Tensor,
    uap_z: torch.Tensor,
    patch_x: torch.Tensor,
    *,
    phase: str = "OURS",
    cls_weight: float = 1.0,
    ctr_weight: float = 1.0,
    reg_weight: float = 1.0,
    x_size: int = 303,
    score_size: int = 19,
    total_stride: int = 8,
) -> dict[str, torch.Tensor]:
    """``dict(total, cls, ctr, reg, iou, norm_z, norm_x)`` for (B, S², 1) cls / ctr logits and (B, S², 4) xyxy
    boxes of the victim against the dense targets of the (B, 4) xyxy ``fake_boxes``.

    ``cls`` focal (α 0.75, γ 2) / #positives, ``ctr`` BCE on non-zero centerness targets, ``reg`` = 3·mean
    -log IoU (+1-pixel IoU) over positives, ``iou`` their mean IoU; ``total = cls_weight·cls + ctr_weight·ctr +
    reg_weight·reg + 0.005·mean(uap_z²) + l2_x·mean(patch_x²)`` with l2_x 1e-5 for AP, else 0.005.
    """
    check_phase(phase)
    expected = score_size * score_size
    for name, tensor, channels in (("cls_pred", cls_pred, 1), ("ctr_pred", ctr_pred, 1), ("box_pred", box_pred, 4)):
        if tensor.ndim != 3 or tensor.shape[1] != expected or tensor.shape[2] != channels:
            raise ValueError(f"{name}: expected shape (B, {expected}, {channels}), got {tuple(tensor.shape)}")
    cls_gt, ctr_gt, box_gt = make_densebox_target(
        fake_boxes, x_size=x_size, score_size=score_size, total_stride=total_stride
    )
    device = cls_pred.device
    cls_gt, ctr_gt, box_gt = cls_gt.to(device), ctr_gt.to(device), box_gt.to(device)
    cls = focal_loss(cls_pred, cls_gt, alpha=0.75, gamma=2.0)
    ctr = centerness_loss(ctr_pred, ctr_gt)
    reg, iou = iou_loss(box_pred, box_gt, cls_gt)
    reg = REG_WEIGHT * reg
    norm_z = torch.mean(uap_z.pow(2))
    norm_x = torch.mean(patch_x.pow(2))
    total = cls_weight * cls + ctr_weight * ctr + reg_weight * reg + L2_Z * norm_z + L2_X[phase] * norm_x
    return dict(total=total, cls=cls, ctr=ctr, reg=reg, iou=iou, norm_z=norm_z, norm_x=norm_x)
