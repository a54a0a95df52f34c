"""COCO detection data: checked annotation files, the dataset, transforms, grouped batches, the datamodules."""

from vislite_detection.data.annotations import CLEAN_BBOX, check_coco, read_coco_json
from vislite_detection.data.categories import label_maps
from vislite_detection.data.collate import collate_detection
from vislite_detection.data.datamodule import CocoDetectionDataModule, WorldDetectionDataModule
from vislite_detection.data.dataset import CocoDetection, coco_from_dict
from vislite_detection.data.errors import AnnotationError, InvalidBoxError
from vislite_detection.data.sampler import GroupedBatchSampler
from vislite_detection.data.transforms import eval_transforms, train_transforms

__all__ = [
    "CLEAN_BBOX",
    "AnnotationError",
    "CocoDetection",
    "CocoDetectionDataModule",
    "GroupedBatchSampler",
    "InvalidBoxError",
    "WorldDetectionDataModule",
    "check_coco",
    "coco_from_dict",
    "collate_detection",
    "eval_transforms",
    "label_maps",
    "read_coco_json",
    "train_transforms",
]
