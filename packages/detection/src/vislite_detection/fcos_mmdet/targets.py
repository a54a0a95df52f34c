"""mmdetection 2.x FCOS targets (``FCOSHead.get_targets``): centre sampling, inclusive regress ranges, min area."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vislite_detection.fcos_mmdet.points import INF, REGRESS_RANGES, STRIDES, check_levels, fcos_points
from vislite_detection.fcos_mmdet.precision import box_dtype, full_precision


def _check_gt(gt_boxes: Sequence[Tensor], gt_labels: Sequence[Tensor], num_classes: int) -> None:
    if len(gt_boxes) != len(gt_labels):
        raise ValueError(f"gt_boxes holds {len(gt_boxes)} images but gt_labels {len(gt_labels)}")
    for i, (boxes, labels) in enumerate(zip(gt_boxes, gt_labels)):
        if boxes.ndim != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"gt_boxes[{i}] must have shape [n, 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")
        if labels.shape != boxes.shape[:1]:
            raise ValueError(f"gt_labels[{i}] must have shape [{boxes.shape[0]}], got {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"gt_labels[{i}] must be in [0, {num_classes - 1}], got {labels.tolist()}")


def _image_targets(
    points: Tensor,
    point_strides: Tensor,
    ranges: Tensor,
    boxes: Tensor,
    labels: Tensor,
    num_classes: int,
    center_sampling: bool,
    radius: float,
) -> tuple[Tensor, Tensor]:
    """Labels [P] and pixel distances [P, 4] (l, t, r, b) for one image's boxes [G, 4] at ``points`` [P, 2]."""
    num_points, num_gts = points.shape[0], boxes.shape[0]
    if num_gts == 0:
        return labels.new_full((num_points,), num_classes), boxes.new_zeros((num_points, 4))
    xs, ys = points[:, 0, None], points[:, 1, None]  # [P, 1]
    x1, y1, x2, y2 = boxes[None, :, 0], boxes[None, :, 1], boxes[None, :, 2], boxes[None, :, 3]  # [1, G]
    distances = torch.stack(torch.broadcast_tensors(xs - x1, ys - y1, x2 - xs, y2 - ys), dim=-1)  # [P, G, 4]
    if center_sampling:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2  # [1, G]
        half = point_strides[:, None] * radius  # [P, 1]
        inner_x1 = torch.where(cx - half > x1, cx - half, x1)  # [P, G]
        inner_y1 = torch.where(cy - half > y1, cy - half, y1)
        inner_x2 = torch.where(cx + half > x2, x2, cx + half)
        inner_y2 = torch.where(cy + half > y2, y2, cy + half)
        inner = torch.stack((xs - inner_x1, ys - inner_y1, inner_x2 - xs, inner_y2 - ys), dim=-1)  # [P, G, 4]
        inside = inner.min(dim=-1).values > 0
    else:
        inside = distances.min(dim=-1).values > 0
    reach = distances.max(dim=-1).values  # [P, G]
    in_range = (reach >= ranges[:, 0, None]) & (reach <= ranges[:, 1, None])
    areas = ((x2 - x1) * (y2 - y1)).expand(num_points, num_gts)  # [P, G]
    areas = torch.where(inside & in_range, areas, torch.full_like(areas, INF))
    min_area = areas.min(dim=1).values  # [P]
    index = torch.arange(num_gts, device=boxes.device).expand(num_points, num_gts)
    first = torch.where(areas == min_area[:, None], index, num_gts).min(dim=1).values  # lowest index among ties
    point_labels = labels[first].clone()
    point_labels[min_area == INF] = num_classes
    return point_labels, distances[torch.arange(num_points, device=boxes.device), first]


def fcos_targets(
    feature_sizes: Sequence[Sequence[int]],
    gt_boxes: Sequence[Tensor],
    gt_labels: Sequence[Tensor],
    *,
    num_classes: int,
    strides: Sequence[int] = STRIDES,
    regress_ranges: Sequence[Sequence[float]] = REGRESS_RANGES,
    center_sampling: bool = True,
    center_sample_radius: float = 1.5,
    norm_on_bbox: bool = True,
) -> tuple[Tensor, Tensor]:
    """Per-point classification labels ``[B, P]`` (int64, background = ``num_classes``) and regression targets
    ``[B, P, 4]`` (l, t, r, b, divided by the level's stride when ``norm_on_bbox``), mmdetection 2.x's rule.

    A point matches a box when it lies strictly inside the box (with ``center_sampling``: strictly inside the box
    cut to the square of half-side ``center_sample_radius * stride`` around its centre) and lo <= max(l, t, r, b)
    <= hi for its level's regress range. Among matches the smallest area (compared exactly, no tolerance) wins,
    equal areas go to the lowest box index; an area of :data:`INF` or more counts as unmatched, as in mmdetection.
    Unmatched points are background, with the distances to box 0 as (unused) targets. Level l uses ``strides[l]``
    and ``regress_ranges[l]`` (extra entries are ignored, as mmdetection's ``zip``). Boxes are x1 y1 x2 y2 in
    pixels; computed in the boxes' dtype (float64 stays float64, others in float32), never under autocast.
    """
    sizes = check_levels(feature_sizes, strides)
    if len(regress_ranges) < len(sizes):
        raise ValueError(f"got {len(regress_ranges)} regress ranges for {len(sizes)} levels")
    strides, regress_ranges = tuple(strides[: len(sizes)]), tuple(regress_ranges[: len(sizes)])
    _check_gt(gt_boxes, gt_labels, num_classes)
    if not gt_boxes:
        return torch.zeros((0, sum(h * w for h, w in sizes)), dtype=torch.int64), torch.zeros((0, 0, 4))
    device = gt_boxes[0].device
    dtype = box_dtype(gt_boxes[0])
    with full_precision(device):
        points = fcos_points(sizes, strides, dtype=dtype, device=device)
        counts = [p.shape[0] for p in points]
        all_points = torch.cat(points)  # [P, 2]
        level_strides = torch.cat(
            [torch.full((n,), float(s), dtype=dtype, device=device) for n, s in zip(counts, strides)]
        )  # [P]
        level_ranges = torch.cat(
            [torch.tensor([list(r)], dtype=dtype, device=device).expand(n, 2) for n, r in zip(counts, regress_ranges)]
        )  # [P, 2]
        labels, targets = [], []
        for boxes, box_labels in zip(gt_boxes, gt_labels):
            point_labels, distances = _image_targets(
                all_points,
                level_strides,
                level_ranges,
                boxes.to(dtype),
                box_labels.to(torch.int64),
                num_classes,
                center_sampling,
                center_sample_radius,
            )
            if norm_on_bbox:
                distances = distances / level_strides[:, None]
            labels.append(point_labels)
            targets.append(distances)
        return torch.stack(labels), torch.stack(targets)
