"""Build HierKD from plain arguments (what the Hydra configs call): backbone by name, teacher, class split."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vislite_detection.hierkd.model import HierKD
from vislite_detection.hierkd.ovd_split import COCO_CLASSES, load_class_split
from vislite_detection.hierkd.teacher import VisionLanguageTeacher


def split_class_names(split: dict[str, list[str]], class_names: Sequence[str] | None) -> list[str]:
    """All split classes in category-id order: ``class_names`` filtered to the split, else COCO's 80-class order."""
    wanted = set(split["seen"]) | set(split["unseen"])
    if class_names is None:
        if not wanted <= set(COCO_CLASSES):
            raise ValueError(
                f"classes {sorted(wanted - set(COCO_CLASSES))} are not COCO classes: pass class_names in "
                "category-id order"
            )
        class_names = COCO_CLASSES
    missing = sorted(wanted - set(class_names))
    if missing:
        raise ValueError(f"split classes {missing} are not in class_names {list(class_names)}")
    return [n for n in class_names if n in wanted]


def build_hierkd(
    *,
    teacher: VisionLanguageTeacher,
    class_split: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    backbone: str = "resnet50_fpn",
    weights_backbone: str | os.PathLike | None = None,
    trainable_layers: int = 3,
    out_channels: int = 256,
    **kwargs: Any,
) -> HierKD:
    """HierKD over ``backbone`` (``"resnet50_fpn"``: R-50-FPN P3–P7 with P6/P7 from P5, or ``"tiny_resnet_fpn"``
    for tests) with the seen / unseen classes of ``class_split`` (a shipped split name or a JSON file)."""
    from vislite_detection.models.resnet_fpn import resnet50_fpn, tiny_resnet_fpn

    split = load_class_split(class_split)
    names = split_class_names(split, class_names)
    if backbone == "resnet50_fpn":
        net = resnet50_fpn(
            weights_backbone=weights_backbone, trainable_layers=trainable_layers, extra="p6p7",
            out_channels=out_channels,
        )
    elif backbone == "tiny_resnet_fpn":
        net = tiny_resnet_fpn(out_channels=out_channels, extra="p6p7")
    else:
        raise ValueError(f"backbone must be 'resnet50_fpn' or 'tiny_resnet_fpn', got {backbone!r}")
    return HierKD(backbone=net, teacher=teacher, class_names=names, unseen_classes=split["unseen"], **kwargs)
