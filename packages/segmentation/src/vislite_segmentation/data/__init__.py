"""Semantic-segmentation data: ADE20K-layout datasets, mmseg's training / evaluation transforms, datamodules."""

from vislite_segmentation.data.datamodule import SegmentationDataModule, WorldSegmentationDataModule
from vislite_segmentation.data.dataset import SegmentationDataset, collate_eval
from vislite_segmentation.data.transforms import SegEvalTransform, SegTrainTransform

__all__ = [
    "SegEvalTransform",
    "SegTrainTransform",
    "SegmentationDataModule",
    "SegmentationDataset",
    "WorldSegmentationDataModule",
    "collate_eval",
]
