"""Correcting a whole annotated dataset once with a teacher (for the box-quality study and inspection)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchvision.models.detection.transform import GeneralizedRCNNTransform


@torch.no_grad()
def corrected_dataset_boxes(
    dataset: Dataset, corrector: nn.Module, transform: GeneralizedRCNNTransform
) -> Iterator[tuple[int, Tensor, Tensor, Tensor | None]]:
    """Yield ``(image_id, noisy boxes, corrected boxes, clean boxes or None)`` for every item of ``dataset``.

    Each image goes through ``transform`` (the student's: normalise, pad) one at a time in evaluation mode, as
    it would in training without augmentation; boxes are in the dataset item's image coordinates.
    """
    corrector.eval()
    transform.eval()
    for index in range(len(dataset)):
        image, target = dataset[index]
        boxes = target["boxes"].as_subclass(Tensor).float()
        inputs = {"boxes": boxes, "labels": target["labels"]}
        image_list, (resized,) = transform([image.as_subclass(Tensor)], [inputs])
        (fixed,) = corrector(image_list, [resized])
        scale = boxes.new_tensor([*image.shape[-1:-3:-1]] * 2) / boxes.new_tensor(
            [*image_list.image_sizes[0][::-1]] * 2
        )
        clean = target.get("clean_boxes")
        yield (
            int(target["image_id"]),
            boxes,
            fixed["boxes"] * scale,  # back to the item's coordinates when the transform resized
            None if clean is None else clean.as_subclass(Tensor).float(),
        )
