"""PDNet detections drawn with their dynamic points: boundary points (regression) and semantic points (class)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.io import encode_png
from torchvision.ops import box_iou
from torchvision.utils import draw_bounding_boxes, draw_keypoints

from vislite_common.fileio import atomic_write
from vislite_detection.viz.draw import PALETTE, _label_text, to_uint8_image

BOUNDARY_COLOUR = "#ffe119"
SEMANTIC_COLOUR = "#42d4f4"


def select_distinct(boxes: torch.Tensor, scores: torch.Tensor, score_thr: float, count: int) -> torch.Tensor:
    """Indices of up to ``count`` detections above ``score_thr`` by decreasing score, none overlapping a kept one
    by IoU > 0.7 (class-agnostic)."""
    order = torch.argsort(scores, descending=True)
    order = order[scores[order] >= score_thr]
    kept: list[int] = []
    for index in order.tolist():
        if len(kept) == count:
            break
        if not kept or box_iou(boxes[index : index + 1], boxes[kept]).max() <= 0.7:
            kept.append(index)
    return torch.tensor(kept, dtype=torch.long, device=boxes.device)


def draw_dynamic_points(
    image: torch.Tensor,
    detections: dict[str, torch.Tensor],
    names: Sequence[str],
    out_png: str | os.PathLike,
    *,
    score_thr: float = 0.2,
    max_detections: int = 4,
    min_side: int = 512,
) -> int:
    """Write ``image`` upscaled to a shorter side of at least ``min_side`` px with the best ``max_detections``
    detections above ``score_thr`` (one per object: a box overlapping a better one by IoU > 0.7 is skipped,
    whatever its class): box and label, boundary points (yellow, the box edges are read there) and semantic points
    (cyan, the class scores are read there). Returns the number of detections drawn."""
    picture = to_uint8_image(image)
    scale = max(1, -(-min_side // min(picture.shape[-2:])))  # ceil
    picture = F.interpolate(picture[None].float(), scale_factor=scale, mode="bilinear", align_corners=False)
    picture = picture[0].round().clamp(0, 255).to(torch.uint8)
    keep = select_distinct(detections["boxes"], detections["scores"], score_thr, max_detections)
    if keep.numel():
        boxes = detections["boxes"][keep].detach().cpu().float() * scale
        labels = detections["labels"][keep].tolist()
        scores = detections["scores"][keep].tolist()
        colours = [PALETTE[(int(label) - 1) % len(PALETTE)] for label in labels]
        texts = [_label_text(int(label), score, names) for label, score in zip(labels, scores)]
        picture = draw_bounding_boxes(picture, boxes, texts, colors=colours, width=2)
        semantic = detections["semantic_points"][keep].detach().cpu().float() * scale  # [D, 9, 2] (x, y)
        boundary = detections["boundary_points"][keep].detach().cpu().float() * scale  # [D, 4, 2] (x, y)
        picture = draw_keypoints(picture, semantic, colors=SEMANTIC_COLOUR, radius=3)
        picture = draw_keypoints(picture, boundary, colors=BOUNDARY_COLOUR, radius=5)
    data = encode_png(picture).numpy().tobytes()
    atomic_write(out_png, lambda handle: handle.write(data))
    return int(keep.numel())
