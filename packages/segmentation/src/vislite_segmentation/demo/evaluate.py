"""Held-out evaluation of a trained segmentor against the majority-class baseline."""

from __future__ import annotations

import torch

from vislite_segmentation.data.dataset import SegmentationDataset
from vislite_segmentation.eval.miou import IGNORE_INDEX, miou
from vislite_segmentation.lit.module import SegmentationModule


def majority_class(dataset: SegmentationDataset) -> int:
    """The most frequent (non-ignored) class over the label maps of ``dataset``."""
    counts = torch.zeros(dataset.num_classes, dtype=torch.int64)
    for index in range(len(dataset)):
        label = dataset.label(index)
        counts += torch.bincount(label[label != IGNORE_INDEX].flatten(), minlength=dataset.num_classes)
    return int(counts.argmax())


@torch.inference_mode()
def predict_split(module: SegmentationModule, dataset: SegmentationDataset) -> tuple[list, list]:
    """``(predictions, labels)`` of every sample of ``dataset`` (evaluation transform) with ``module``'s inference."""
    module.eval()
    preds, labels = [], []
    for index in range(len(dataset)):
        image, label = dataset[index][:2]
        preds.append(module.predict_labels(image, tuple(label.shape)))
        labels.append(label)
    return preds, labels


def compare_with_baseline(
    preds: list[torch.Tensor], labels: list[torch.Tensor], num_classes: int, constant: int
) -> dict[str, dict[str, float | list[float]]]:
    """mmseg metrics of ``preds`` and of a constant prediction of class ``constant``."""
    baseline = [torch.full_like(label, constant) for label in labels]
    return {
        "model": miou(preds, labels, num_classes),
        "baseline": miou(baseline, labels, num_classes),
    }
