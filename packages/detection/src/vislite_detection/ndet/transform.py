"""Plugging a box corrector into a torchvision detector: the student corrects its targets after its transform."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes

from vislite_detection.ndet.correct import pairwise_iou


class CorrectingTransform(nn.Module):
    """The student's input transform followed, in training, by the teacher's box correction.

    torchvision detectors call ``self.transform(images, targets)`` first, so wrapping it gives the teacher the
    very batch the student sees (augmented, resized, normalised, padded) with no change to the detector. When
    targets carry ``clean_boxes`` (the boxes before noise), ``box_quality`` holds the mean IoU to them of the
    noisy and of the corrected boxes of the last batch (NDet's ``noise_level``).
    """

    def __init__(self, *, inner: GeneralizedRCNNTransform, corrector: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.corrector = corrector
        self.box_quality: dict[str, Tensor] = {}

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> tuple[ImageList, list[dict[str, Tensor]] | None]:
        sizes = [tuple(image.shape[-2:]) for image in images]
        image_list, targets = self.inner(images, targets)
        if self.training and targets is not None:
            targets = self.corrector(image_list, targets)
            self.box_quality = _box_quality(targets, sizes, image_list.image_sizes)
        return image_list, targets

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        return self.inner.postprocess(result, image_shapes, original_image_sizes)


def _box_quality(
    targets: list[dict[str, Tensor]], sizes: list[tuple[int, int]], new_sizes: list[tuple[int, int]]
) -> dict[str, Tensor]:
    """Mean IoU of ``noisy_boxes`` and of ``boxes`` to ``clean_boxes`` (brought to the transformed frame)."""
    noisy, corrected = [], []
    for target, size, new_size in zip(targets, sizes, new_sizes):
        if "clean_boxes" not in target or target["boxes"].shape[0] == 0:
            continue
        clean = resize_boxes(target["clean_boxes"].to(target["boxes"].dtype), size, new_size)
        noisy.append(pairwise_iou(target["noisy_boxes"], clean))
        corrected.append(pairwise_iou(target["boxes"], clean))
    if not noisy:
        return {}
    return {"iou_noisy": torch.cat(noisy).mean(), "iou_corrected": torch.cat(corrected).mean()}


def with_box_correction(*, detector: nn.Module, corrector: nn.Module) -> nn.Module:
    """``detector`` (the student) training on boxes corrected by ``corrector`` on its own transformed batches.

    The teacher must normalise pixels as the student does (it reads the student's normalised tensor). A
    corrector's ``student_cls_normalizer`` (NDet's FCOS student head) is set on the student.
    """
    inner = detector.transform
    teacher_transform = getattr(getattr(corrector, "teacher", None), "transform", None)
    if teacher_transform is not None and (
        list(teacher_transform.image_mean) != list(inner.image_mean)
        or list(teacher_transform.image_std) != list(inner.image_std)
    ):
        raise ValueError(
            f"teacher and student normalise differently: mean {teacher_transform.image_mean} / std "
            f"{teacher_transform.image_std} vs {inner.image_mean} / {inner.image_std}"
        )
    normalizer = getattr(corrector, "student_cls_normalizer", None)
    if normalizer is not None:
        if not hasattr(detector, "cls_normalizer"):
            raise ValueError(f"student_cls_normalizer={normalizer!r} needs an mmdet FCOS student (head=mmdet)")
        detector.cls_normalizer = normalizer
    detector.transform = CorrectingTransform(inner=inner, corrector=corrector)
    return detector
