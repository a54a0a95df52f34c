"""Box correction with an FCOS teacher: all its decoded pre-NMS predictions on the student's batch.

An mmdetection-style teacher (:class:`~vislite_detection.fcos_mmdet.detector.MMDetFCOS`) is decoded as NDet's
``FCOSNHead._adapt_gt_bboxes`` does: distances in pixels (stride units times the stride, once) from the points
at (j * s + s // 2, i * s + s // 2), not clipped to the image. A torchvision teacher is decoded by its own box
coder at its anchor centres (j * s, i * s), clipped to the image unless ``clip_boxes=False``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import clip_boxes_to_image

from vislite_common.lit.frozen import KeepFrozenMixin, freeze
from vislite_detection.fcos_mmdet.detector import MMDetFCOS
from vislite_detection.fcos_mmdet.loss import distance2bbox, flatten_levels
from vislite_detection.fcos_mmdet.points import fcos_points
from vislite_detection.ndet.correct import IOU_THR, SCORE_THR, correct_boxes
from vislite_detection.ndet.precision import full_precision


class FCOSBoxCorrector(KeepFrozenMixin):
    """Replaces each target's ``boxes`` by :func:`correct_boxes` over the frozen FCOS ``teacher``'s predictions.

    Called on the student's already transformed batch (same augmentation, same normalised pixels); the noisy
    boxes are kept as ``noisy_boxes``. ``fusion`` holds the extra options of :func:`correct_boxes` (NDet's
    ``adapt_cfg``: ``rule`` "step" / "exp", ``ratio``, ``sigma``, ``topk``). ``student_cls_normalizer`` is set on
    an mmdet-style student by :func:`~vislite_detection.ndet.transform.with_box_correction` (NDet's students use
    ``FCOSNHead``, whose classification loss is divided by num_pos instead of num_pos + num_imgs).
    """

    def __init__(
        self,
        *,
        teacher: nn.Module,
        iou_thr: float = IOU_THR,
        score_thr: float = SCORE_THR,
        clip_boxes: bool | None = None,
        fusion: dict[str, object] | None = None,
        student_cls_normalizer: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(teacher, (FCOS, MMDetFCOS)):
            raise TypeError(
                f"FCOSBoxCorrector needs an FCOS teacher (torchvision or mmdet), got {type(teacher).__name__}"
            )
        self.teacher = freeze(teacher, in_checkpoint=True)  # student checkpoints carry the teacher (tested)
        self.iou_thr, self.score_thr = iou_thr, score_thr
        self.clip_boxes = not isinstance(teacher, MMDetFCOS) if clip_boxes is None else clip_boxes
        self.fusion = dict(fusion or {})
        self.student_cls_normalizer = student_cls_normalizer

    @torch.no_grad()
    def predict(self, images: ImageList) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per image: decoded boxes [P, 4], class probabilities [P, C], centerness [P], in float32.

        The network may run under an enclosing autocast; its outputs are decoded with autocast off. The columns
        of the class probabilities are the dataset's labels (an mmdet teacher's get a zero column 0).
        """
        if isinstance(self.teacher, MMDetFCOS):
            out = self._predict_mmdet(images)
        else:
            out = self._predict_torchvision(images)
        if self.clip_boxes:
            out = [(clip_boxes_to_image(b, size), c, t) for (b, c, t), size in zip(out, images.image_sizes)]
        return out

    def _predict_mmdet(self, images: ImageList) -> list[tuple[Tensor, Tensor, Tensor]]:
        cls_scores, bbox_preds, centernesses = self.teacher.head_outputs(images.tensors)  # eval mode: pixels
        with full_precision(images.tensors.device):
            dtype = torch.float32
            points = torch.cat(
                fcos_points(
                    [m.shape[-2:] for m in cls_scores], self.teacher.strides, dtype=dtype, device=images.tensors.device
                )
            )  # [P, 2]
            cls = flatten_levels(cls_scores, cls_scores[0].shape[1], dtype).sigmoid()  # [B, P, K]
            cls = torch.cat((cls.new_zeros(cls.shape[:2] + (1,)), cls), dim=-1)  # [B, P, K + 1]: labels 1..K
            distances = flatten_levels(bbox_preds, 4, dtype)  # [B, P, 4]
            ctr = flatten_levels(centernesses, 1, dtype)[..., 0].sigmoid()  # [B, P]
            return [(distance2bbox(points, distances[i]), cls[i], ctr[i]) for i in range(cls.shape[0])]

    def _predict_torchvision(self, images: ImageList) -> list[tuple[Tensor, Tensor, Tensor]]:
        features = list(self.teacher.backbone(images.tensors).values())
        head = self.teacher.head(features)  # cls_logits [N, P, C], bbox_regression [N, P, 4], bbox_ctrness [N, P, 1]
        anchors = self.teacher.anchor_generator(images, features)  # N x [P, 4]
        out = []
        with full_precision(images.tensors.device):
            for i in range(len(images.image_sizes)):
                boxes = self.teacher.box_coder.decode(head["bbox_regression"][i].float(), anchors[i].float())
                out.append(
                    (
                        boxes,
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
                target["boxes"],
                target["labels"],
                boxes,
                cls_prob,
                ctr_prob,
                self.iou_thr,
                self.score_thr,
                **self.fusion,
            )
            corrected.append({**target, "boxes": new, "noisy_boxes": target["boxes"]})
        return corrected
