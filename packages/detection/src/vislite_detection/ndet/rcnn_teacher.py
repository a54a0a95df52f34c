"""Box correction with a Faster R-CNN teacher: its RPN proposals per box, refined by its RoI head, then fused."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops import box_iou, clip_boxes_to_image

from vislite_detection.ndet.correct import IOU_THR, SCORE_THR, correct_boxes_per_gt
from vislite_detection.ndet.teacher import FrozenTeacherMixin, freeze


class FasterRCNNBoxCorrector(FrozenTeacherMixin):
    """NDet's two-stage correction with a frozen Faster R-CNN ``teacher``.

    Per noisy box g of class c: the ``proposals_per_box`` decoded RPN anchors with the highest objectness among
    those with IoU(anchor box, g) > ``proposal_iou`` (at most ``max_proposals`` per image, highest objectness
    first) are refined by the teacher's RoI head for class c (no NMS) and scored by its softmax probability of
    c; g is then fused with them as in FCOS (score ≥ ``score_thr``, IoU > ``iou_thr``).
    """

    def __init__(
        self,
        *,
        teacher: FasterRCNN,
        proposal_iou: float = 0.5,
        proposals_per_box: int = 100,
        max_proposals: int = 1000,
        iou_thr: float = IOU_THR,
        score_thr: float = SCORE_THR,
    ) -> None:
        super().__init__()
        if not isinstance(teacher, FasterRCNN):
            raise TypeError(f"FasterRCNNBoxCorrector needs a torchvision FasterRCNN, got {type(teacher).__name__}")
        self.teacher = freeze(teacher)
        self.proposal_iou, self.proposals_per_box, self.max_proposals = proposal_iou, proposals_per_box, max_proposals
        self.iou_thr, self.score_thr = iou_thr, score_thr

    @torch.no_grad()
    def rpn_boxes(self, images: ImageList, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Decoded RPN anchor boxes [N, A, 4] and their objectness probabilities [N, A] (before NMS)."""
        rpn = self.teacher.rpn
        objectness, deltas = rpn.head(features)
        anchors = rpn.anchor_generator(images, features)
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)  # [N*A, 1], [N*A, 4]
        num_images = len(anchors)
        boxes = rpn.box_coder.decode(deltas, anchors).view(num_images, -1, 4)
        return boxes, objectness.view(num_images, -1).sigmoid()

    def select_proposals(self, gt_boxes: Tensor, boxes: Tensor, objectness: Tensor) -> tuple[Tensor, Tensor]:
        """Indices [G, k] of each box's top proposals and a validity mask [G, k] (IoU > threshold, within cap)."""
        iou = box_iou(gt_boxes, boxes)  # [G, A]
        k = min(self.proposals_per_box, boxes.shape[0])
        ranked = torch.where(iou > self.proposal_iou, objectness[None, :], torch.full_like(iou, -1.0))
        top, index = ranked.topk(k, dim=1)  # [G, k]
        valid = top >= 0
        if int(valid.sum()) > self.max_proposals:
            flat = torch.where(valid, top, torch.full_like(top, -1.0)).flatten()
            keep = torch.zeros_like(flat, dtype=torch.bool)
            keep[flat.topk(self.max_proposals).indices] = True
            valid &= keep.view_as(valid)
        return index, valid

    @torch.no_grad()
    def refine(
        self, features: dict[str, Tensor], proposals: Tensor, image_size: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """Class-specific refined boxes [R, C, 4] and softmax probabilities [R, C] of one image's proposals."""
        heads = self.teacher.roi_heads
        pooled = heads.box_roi_pool(features, [proposals], [image_size])
        class_logits, box_regression = heads.box_predictor(heads.box_head(pooled))
        refined = heads.box_coder.decode(box_regression, [proposals])  # [R, C, 4]
        return clip_boxes_to_image(refined, image_size), class_logits.softmax(dim=-1)

    @torch.no_grad()
    def forward(self, images: ImageList, targets: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        features = self.teacher.backbone(images.tensors)
        all_boxes, all_objectness = self.rpn_boxes(images, list(features.values()))
        corrected = []
        for i, (target, size) in enumerate(zip(targets, images.image_sizes)):
            gt, labels = target["boxes"], target["labels"]
            new = gt.clone()
            if gt.shape[0] > 0:
                boxes = clip_boxes_to_image(all_boxes[i], size)
                index, valid = self.select_proposals(gt, boxes, all_objectness[i])
                cand_boxes = gt.new_zeros((*index.shape, 4))  # [G, k, 4]
                cand_scores = gt.new_zeros(index.shape)  # [G, k]
                if valid.any():
                    single = {name: level[i : i + 1] for name, level in features.items()}
                    refined, probs = self.refine(single, boxes[index[valid]], size)
                    cls = labels[valid.nonzero()[:, 0]]
                    rows = torch.arange(cls.shape[0], device=cls.device)
                    cand_boxes[valid] = refined[rows, cls].to(gt.dtype)
                    cand_scores[valid] = probs[rows, cls].to(gt.dtype)
                new = correct_boxes_per_gt(gt, cand_boxes, cand_scores, self.iou_thr, self.score_thr)
            corrected.append({**target, "boxes": new, "noisy_boxes": gt})
        return corrected
