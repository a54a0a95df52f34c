"""Box correction with an FCOS teacher: all its decoded pre-NMS predictions on the student's batch."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection import FCOS
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import clip_boxes_to_image

from vislite_detection.ndet.correct import IOU_THR, SCORE_THR, correct_boxes
from vislite_detection.ndet.precision import full_precision
from vislite_detection.ndet.teacher import FrozenTeacherMixin, freeze


class FCOSBoxCorrector(FrozenTeacherMixin):
    """Replaces each target's ``boxes`` by :func:`correct_boxes` over the frozen FCOS ``teacher``'s predictions.

    Called on the student's already transformed batch (same augmentation, same normalised pixels); the noisy
    boxes are kept as ``noisy_boxes``.
    """

    def __init__(self, *, teacher: FCOS, iou_thr: float = IOU_THR, score_thr: float = SCORE_THR) -> None:
        super().__init__()
        if not isinstance(teacher, FCOS):
            raise TypeError(f"FCOSBoxCorrector needs a torchvision FCOS teacher, got {type(teacher).__name__}")
        self.teacher = freeze(teacher)
        self.iou_thr, self.score_thr = iou_thr, score_thr

    @torch.no_grad()
    def predict(self, images: ImageList) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per image: decoded boxes [P, 4] (clipped to the image), class probabilities [P, C], centerness [P].

        The network may run under an enclosing autocast; its outputs are decoded in float32 with autocast off.
        """
        features = list(self.teacher.backbone(images.tensors).values())
        head = self.teacher.head(features)  # cls_logits [N, P, C], bbox_regression [N, P, 4], bbox_ctrness [N, P, 1]
        anchors = self.teacher.anchor_generator(images, features)  # N x [P, 4]
        out = []
        with full_precision(images.tensors.device):
            for i, size in enumerate(images.image_sizes):
                boxes = self.teacher.box_coder.decode(head["bbox_regression"][i].float(), anchors[i].float())
                out.append(
                    (
                        clip_boxes_to_image(boxes, size),
                        head["cls_logits"][i].float().sigmoid(),
                        head["bbox_ctrness"][i, :, 0].float().sigmoid(),
                    )
                )
        return out

    @torch.no_grad()
    def forward(self, images: ImageList, targets: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        corrected = []
        for target, (boxes, cls_prob, ctr_prob) in zip(targets, self.predict(images)):
            new = correct_boxes(
                target["boxes"], target["labels"], boxes, cls_prob, ctr_prob, self.iou_thr, self.score_thr
            )
            corrected.append({**target, "boxes": new, "noisy_boxes": target["boxes"]})
        return corrected
