"""Detections drawn over their image and written as PNG (torchvision's box drawing)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.io import encode_png
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from vislite_common.fileio import atomic_write

PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#9a6324")
GT_COLOUR = "#ffffff"


def to_uint8_image(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8, or float in [0, 1] -> (3, H, W) uint8 on the CPU."""
    image = torch.as_tensor(image).detach().cpu()
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got {tuple(image.shape)}")
    if image.dtype == torch.uint8:
        return image
    return (image.float().clamp(0, 1) * 255).round().to(torch.uint8)


def _label_text(label: int, score: float | None, names: Sequence[str]) -> str:
    name = names[label - 1] if 1 <= label <= len(names) else str(label)
    return name if score is None else f"{name} {score:.2f}"


def draw_detections(
    image: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor | None,
    names: Sequence[str],
    out_png: str | os.PathLike,
    gt_boxes: torch.Tensor | None = None,
    *,
    score_thr: float = 0.0,
    width: int = 2,
    masks: torch.Tensor | None = None,
    mask_alpha: float = 0.45,
) -> Path:
    """Draw XYXY ``boxes`` (K, 4) with ``names[label - 1]`` and score over ``image`` (3, H, W) and save a PNG.

    Ground-truth boxes (white, thin) are drawn first when given; detections scoring below ``score_thr`` are
    left out; each class keeps one colour. Instance ``masks`` ((K, H, W) or (K, 1, H, W), nonzero = inside), when
    given, are blended in the detections' colours under the boxes. Returns the PNG's path.
    """
    canvas = to_uint8_image(image)
    if gt_boxes is not None and len(gt_boxes):
        gt = torch.as_tensor(gt_boxes, dtype=torch.float32).detach().cpu().reshape(-1, 4)  # [G, 4]
        canvas = draw_bounding_boxes(canvas, gt, colors=GT_COLOUR, width=1)
    boxes = torch.as_tensor(boxes, dtype=torch.float32).detach().cpu().reshape(-1, 4)  # [K, 4]
    labels_list = [int(label) for label in torch.as_tensor(labels).reshape(-1).tolist()]
    score_list = None if scores is None else torch.as_tensor(scores).reshape(-1).tolist()
    keep = [k for k in range(len(boxes)) if score_list is None or score_list[k] >= score_thr]
    if masks is not None and keep:
        shown = torch.as_tensor(masks).detach().cpu()
        shown = shown.reshape(shown.shape[0], *shown.shape[-2:]) > 0  # [K, H, W] bool
        if shown.shape[0] != len(boxes) or tuple(shown.shape[-2:]) != tuple(canvas.shape[-2:]):
            raise ValueError(
                f"masks must be ({len(boxes)}, {canvas.shape[-2]}, {canvas.shape[-1]}) for these boxes and image, "
                f"got {tuple(shown.shape)}"
            )
        colours = [PALETTE[(labels_list[k] - 1) % len(PALETTE)] for k in keep]
        canvas = draw_segmentation_masks(canvas, shown[keep], alpha=mask_alpha, colors=colours)
    if keep:
        texts = [_label_text(labels_list[k], None if score_list is None else score_list[k], names) for k in keep]
        colours = [PALETTE[(labels_list[k] - 1) % len(PALETTE)] for k in keep]
        canvas = draw_bounding_boxes(canvas, boxes[keep], labels=texts, colors=colours, width=width)
    path = Path(out_png)
    data = encode_png(canvas).numpy().tobytes()
    atomic_write(path, lambda handle: handle.write(data))
    return path
