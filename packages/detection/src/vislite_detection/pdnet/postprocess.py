"""PDNet's inference (``PDNetPostProcessor``): per-level score threshold and top-k, decoding, ml_nms, top 100."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vislite_detection.pdnet.boxes import decode_boxes, keep_top_scores, ml_nms


def postprocess(
    outputs: dict[str, list[Tensor]],
    image_sizes: Sequence[Sequence[int]],
    *,
    strides: Sequence[int],
    score_thresh: float = 0.05,
    topk_candidates: int = 1000,
    nms_thresh: float = 0.6,
    detections_per_img: int = 100,
) -> list[dict[str, Tensor]]:
    """Detections per image: ``boxes`` [D,4] (x1, y1, x2, y2 px), ``scores``, ``labels`` (class column + 1) and,
    for drawing, ``boundary_points`` [D,4,2] and ``semantic_points`` [D,9,2] as (x, y) pixels.

    Per level, class scores ``sigmoid > score_thresh`` (strict), the ``topk_candidates`` best of them; boxes by
    :func:`decode_boxes`; then class-aware "+1" NMS at ``nms_thresh`` and the ``kthvalue`` cut to
    ``detections_per_img`` (ties at the cut kept).
    """
    results = []
    for i, image_size in enumerate(image_sizes):
        parts: dict[str, list[Tensor]] = {k: [] for k in ("boxes", "scores", "labels", "bound", "semantic")}
        for level, stride in enumerate(strides):
            logits = outputs["cls_logits"][level][i]  # [K, H, W]
            k, h, w = logits.shape
            scores = logits.sigmoid().permute(1, 2, 0).reshape(-1)  # [(H*W)*K], cell-major
            candidates = torch.nonzero(scores > score_thresh).squeeze(1)
            scores = scores[candidates]
            if scores.numel() > topk_candidates:
                scores, order = scores.topk(topk_candidates)
                candidates = candidates[order]
            cells, columns = candidates // k, candidates % k
            boxes = decode_boxes(outputs["reg_boxes"][level][i], stride=stride, image_size=image_size)
            bound = outputs["boundary_points"][level][i].permute(1, 2, 0).reshape(h * w, 4, 2)
            semantic = outputs["semantic_points"][level][i].permute(1, 2, 0).reshape(h * w, 9, 2)
            parts["boxes"].append(boxes[cells])
            parts["scores"].append(scores)
            parts["labels"].append(columns + 1)
            parts["bound"].append(bound[cells].flip(-1) * stride)  # (y, x) grid -> (x, y) px
            parts["semantic"].append(semantic[cells].flip(-1) * stride)
        merged = {key: torch.cat(value) for key, value in parts.items()}
        keep = ml_nms(merged["boxes"], merged["scores"], merged["labels"], nms_thresh)
        keep = keep[keep_top_scores(merged["scores"][keep], detections_per_img)]
        results.append(
            {
                "boxes": merged["boxes"][keep],
                "scores": merged["scores"][keep],
                "labels": merged["labels"][keep],
                "boundary_points": merged["bound"][keep],
                "semantic_points": merged["semantic"][keep],
            }
        )
    return results
