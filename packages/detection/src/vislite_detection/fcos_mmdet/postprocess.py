"""mmdetection 2.x FCOS test-time post-processing (``FCOSHead.get_bboxes`` with NDet's test settings)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from vislite_detection.fcos_mmdet.loss import _check_outputs, distance2bbox
from vislite_detection.fcos_mmdet.points import STRIDES, fcos_points
from vislite_detection.fcos_mmdet.precision import box_dtype, full_precision


def _level_candidates(
    cls: Tensor, box: Tensor, ctr: Tensor, points: Tensor, nms_pre: int, height: int, width: int
) -> tuple[Tensor, Tensor]:
    """One image, one level: boxes [k, 4] clamped to the image and scores [k, C] = σ(cls)·σ(ctr) of its top
    ``nms_pre`` points by max-over-classes score (all points when there are no more)."""
    channels = cls.shape[0]
    scores = cls.permute(1, 2, 0).reshape(-1, channels).sigmoid()  # [HW, C]
    centerness = ctr.permute(1, 2, 0).reshape(-1).sigmoid()  # [HW]
    distances = box.permute(1, 2, 0).reshape(-1, 4)  # [HW, 4]
    if 0 < nms_pre < scores.shape[0]:
        keep = (scores * centerness[:, None]).max(dim=-1).values.topk(nms_pre).indices
        scores, centerness, distances, points = scores[keep], centerness[keep], distances[keep], points[keep]
    boxes = distance2bbox(points, distances)
    boxes = torch.stack(
        (
            boxes[:, 0].clamp(min=0, max=width),
            boxes[:, 1].clamp(min=0, max=height),
            boxes[:, 2].clamp(min=0, max=width),
            boxes[:, 3].clamp(min=0, max=height),
        ),
        dim=-1,
    )
    return boxes, scores * centerness[:, None]


def fcos_postprocess(
    cls_scores: Sequence[Tensor],
    bbox_preds: Sequence[Tensor],
    centernesses: Sequence[Tensor],
    image_sizes: Sequence[Sequence[int]],
    *,
    strides: Sequence[int] = STRIDES,
    nms_pre: int = 1000,
    score_thr: float = 0.05,
    nms_iou: float = 0.6,
    max_per_img: int = 100,
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per image ``(boxes [k, 4], scores [k], labels [k])``, highest score first, mmdetection 2.x's FCOS rule.

    ``bbox_preds`` are test-mode pixel distances (x stride). Per level the ``nms_pre`` points with the largest
    max-over-classes σ(cls)·σ(ctr) are kept; boxes are decoded at the points and clamped, x to [0, w] and y to
    [0, h] of the unpadded image (``image_sizes``: (h, w) per image); every (point, class) pair with
    σ(cls)·σ(ctr) > ``score_thr`` is a candidate; class-wise NMS suppresses IoU > ``nms_iou``; the top
    ``max_per_img`` remain (all when ``max_per_img <= 0``). Scores are σ(cls)·σ(ctr), no square root; labels
    0..C-1. Computed in the logits' dtype (float64 stays float64, others in float32), never under autocast.
    """
    _check_outputs(cls_scores, bbox_preds, centernesses, strides)
    batch = cls_scores[0].shape[0]
    if len(image_sizes) != batch:
        raise ValueError(f"image_sizes holds {len(image_sizes)} sizes but the maps hold {batch} images")
    dtype, device = box_dtype(cls_scores[0]), cls_scores[0].device
    sizes = [tuple(m.shape[-2:]) for m in cls_scores]
    results = []
    with full_precision(device):
        points = fcos_points(sizes, strides, dtype=dtype, device=device)
        for i, (height, width) in enumerate(image_sizes):
            boxes, scores = [], []
            for level, level_points in enumerate(points):
                level_boxes, level_scores = _level_candidates(
                    cls_scores[level][i].to(dtype),
                    bbox_preds[level][i].to(dtype),
                    centernesses[level][i].to(dtype),
                    level_points,
                    nms_pre,
                    int(height),
                    int(width),
                )
                boxes.append(level_boxes)
                scores.append(level_scores)
            all_boxes, all_scores = torch.cat(boxes), torch.cat(scores)  # [K, 4], [K, C]
            point, label = (all_scores > score_thr).nonzero(as_tuple=True)
            cand_boxes, cand_scores = all_boxes[point], all_scores[point, label]
            keep = batched_nms(cand_boxes, cand_scores, label, nms_iou)  # sorted by decreasing score
            if max_per_img > 0:
                keep = keep[:max_per_img]
            results.append((cand_boxes[keep], cand_scores[keep], label[keep]))
    return results
