"""Detector outputs (XYXY tensors, contiguous labels) -> COCO result records (``[x, y, w, h]``, category ids)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils

Result = dict[str, Any]


def rescale_boxes(boxes: torch.Tensor, from_size: tuple[int, int], to_size: tuple[int, int]) -> torch.Tensor:
    """XYXY ``boxes`` (K, 4) in an image of ``from_size`` (H, W) -> the same boxes in an image of ``to_size``."""
    scale_y = to_size[0] / from_size[0]
    scale_x = to_size[1] / from_size[1]
    factors = boxes.new_tensor([scale_x, scale_y, scale_x, scale_y])
    return boxes * factors


def _masks_to_rles(masks: torch.Tensor, size: tuple[int, int], threshold: float) -> list[dict[str, Any]]:
    """(K, 1, H, W) or (K, H, W) mask probabilities -> compressed RLEs at ``size`` (H, W), thresholded."""
    if masks.ndim == 3:
        masks = masks[:, None]  # [K, 1, H, W]
    if masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(f"prediction masks must be (K, 1, H, W) or (K, H, W), got {tuple(masks.shape)}")
    masks = masks.float()
    if tuple(masks.shape[-2:]) != tuple(size):
        masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
    binary = (masks[:, 0] > threshold).to(torch.uint8).cpu().numpy()  # [K, H, W]
    rles = mask_utils.encode(np.asfortranarray(binary.transpose(1, 2, 0)))  # one RLE per K
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def to_coco_results(
    prediction: Mapping[str, Any],
    *,
    label_to_category_id: Mapping[int, int],
    orig_size: tuple[int, int],
    with_masks: bool = False,
    mask_threshold: float = 0.5,
) -> list[Result]:
    """COCO result records of one image's ``prediction`` (``image_id``, ``boxes`` XYXY, ``scores``, ``labels``,
    optional ``masks`` and ``image_size``).

    When ``image_size`` (H, W) is given the boxes (and masks) are in an image of that size and are rescaled to
    ``orig_size``, the annotated size; otherwise they are taken to be in the annotated image already.
    """
    boxes = torch.as_tensor(prediction["boxes"]).detach().cpu().to(torch.float64).reshape(-1, 4)  # [K, 4] XYXY
    scores = torch.as_tensor(prediction["scores"]).detach().cpu().double().reshape(-1).numpy().tolist()
    labels = torch.as_tensor(prediction["labels"]).detach().cpu().reshape(-1).numpy().tolist()
    image_id = int(prediction["image_id"])
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError(
            f"image {image_id}: boxes, scores and labels must have the same length, "
            f"got {len(boxes)}, {len(scores)}, {len(labels)}"
        )
    if "image_size" in prediction:
        size = tuple(int(s) for s in prediction["image_size"])
        boxes = rescale_boxes(boxes, size, orig_size)  # type: ignore[arg-type]
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).numpy().tolist()  # [K, 4]
    try:
        category_ids = [label_to_category_id[int(label)] for label in labels]
    except KeyError:
        unknown = sorted({int(label) for label in labels} - set(label_to_category_id))
        raise ValueError(
            f"image {image_id}: labels {unknown} have no category (known labels 1.."
            f"{len(label_to_category_id)}; 0 is the background and must not be predicted)"
        ) from None
    results: list[Result] = [
        {"image_id": image_id, "category_id": cat, "bbox": box, "score": float(score)}
        for cat, box, score in zip(category_ids, xywh, scores)
    ]
    if with_masks:
        rles = _masks_to_rles(torch.as_tensor(prediction["masks"]).detach().cpu(), orig_size, mask_threshold)
        for record, rle in zip(results, rles):
            record["segmentation"] = rle
    return results
