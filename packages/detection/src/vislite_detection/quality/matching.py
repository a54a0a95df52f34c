"""One-to-one matching of boxes to clean boxes (Hungarian on 1 - IoU, with ``lap``) and the box-quality figures."""

from __future__ import annotations

from collections.abc import Sequence

import lap
import numpy as np
import torch
from torchvision.ops import box_iou

BoxesLike = torch.Tensor | np.ndarray | Sequence[Sequence[float]]


def _as_boxes(boxes: BoxesLike) -> torch.Tensor:
    """A plain CPU float64 (N, 4) tensor from a tensor (any device, ``BoundingBoxes`` too), array or list."""
    if torch.is_tensor(boxes):
        return boxes.detach().cpu().as_subclass(torch.Tensor).double().reshape(-1, 4)  # [N, 4] XYXY
    return torch.from_numpy(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))  # [N, 4] XYXY


def match_boxes(boxes: BoxesLike, clean: BoxesLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match XYXY ``boxes`` (K, 4) one-to-one to XYXY ``clean`` (G, 4), maximising the summed IoU.

    Returns ``(box_index, clean_index, iou)`` of the matched pairs; pairs that do not overlap (IoU 0) are left
    unmatched.
    """
    a, b = _as_boxes(boxes), _as_boxes(clean)
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    iou = box_iou(a, b).numpy()  # [K, G]
    _, rows, _ = lap.lapjv(1.0 - iou, extend_cost=True, cost_limit=1.0 - 1e-9)
    box_index = np.nonzero(rows >= 0)[0]
    clean_index = rows[box_index]
    return box_index, clean_index.astype(np.int64), iou[box_index, clean_index]


def box_quality(boxes_per_image: Sequence[BoxesLike], clean_per_image: Sequence[BoxesLike]) -> dict[str, float]:
    """Mean IoU of boxes (noisy, corrected or predicted) to the clean ones, matched one-to-one per image.

    Returns ``mean_iou`` (over matched pairs; 0 when none), ``num_matched``, ``unmatched`` (clean boxes with no
    partner), ``unmatched_boxes`` (boxes with no clean partner), ``num_boxes`` and ``num_clean``.
    """
    if len(boxes_per_image) != len(clean_per_image):
        raise ValueError(
            f"expected one entry per image in both lists, got {len(boxes_per_image)} and {len(clean_per_image)}"
        )
    ious: list[np.ndarray] = []
    num_boxes = num_clean = 0
    for boxes, clean in zip(boxes_per_image, clean_per_image):
        box_index, _, iou = match_boxes(boxes, clean)
        num_boxes += len(_as_boxes(boxes))
        num_clean += len(_as_boxes(clean))
        ious.append(iou)
    matched = np.concatenate(ious) if ious else np.zeros(0)
    return {
        "mean_iou": float(matched.mean()) if matched.size else 0.0,
        "num_matched": int(matched.size),
        "unmatched": int(num_clean - matched.size),
        "unmatched_boxes": int(num_boxes - matched.size),
        "num_boxes": int(num_boxes),
        "num_clean": int(num_clean),
    }
