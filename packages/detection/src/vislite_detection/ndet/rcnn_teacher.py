"""Box correction with a Faster R-CNN teacher: its RPN proposals per box, refined by its RoI head, then fused."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops import box_iou, clip_boxes_to_image

from vislite_common.lit.frozen import KeepFrozenMixin, freeze
from vislite_detection.ndet.correct import IOU_THR, SCORE_THR, correct_boxes_per_gt
from vislite_detection.ndet.precision import full_precision


class FasterRCNNBoxCorrector(KeepFrozenMixin):
    """NDet's two-stage correction with a frozen Faster R-CNN ``teacher``.

    Per noisy box g: the ``proposals_per_box`` decoded RPN anchors with the highest objectness among those with
    IoU(decoded box, g) > ``proposal_iou`` are selected (at most ``max_proposals`` per image, highest objectness
    first). The image's selected proposals are pooled and refined by the teacher's RoI head (no NMS); each box g
    of class c is then fused, as in FCOS, with all of them: their class-c boxes weighted by their softmax
    probability of c (score >= ``score_thr``, IoU > ``iou_thr``). As in NDet, a proposal selected by two boxes
    counts twice. With ``fill_quota`` (NDet's ``RPNNHead._collect_bboxes_single``) each box takes exactly its
    ``proposals_per_box`` top weights 1[IoU > ``proposal_iou``]·objectness, zero-weight proposals filling the
    quota, and the image cap keeps the ``max_proposals`` largest weights; without it only proposals above
    ``proposal_iou`` are taken. ``clip_proposals=False`` (NDet) leaves the decoded RPN boxes unclipped; the
    refined boxes are always clipped, as mmdetection's RoI head does. Decoding and fusion run in float32 with
    autocast off. ``fusion`` holds :func:`correct_boxes_per_gt`'s rule options (``rule``, ``ratio``, ``sigma``,
    ``topk``).
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
        fill_quota: bool = False,
        clip_proposals: bool = True,
        fusion: dict[str, object] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(teacher, FasterRCNN):
            raise TypeError(f"FasterRCNNBoxCorrector needs a torchvision FasterRCNN, got {type(teacher).__name__}")
        self.teacher = freeze(teacher, in_checkpoint=True)  # student checkpoints carry the teacher (tested)
        self.proposal_iou, self.proposals_per_box, self.max_proposals = proposal_iou, proposals_per_box, max_proposals
        self.iou_thr, self.score_thr = iou_thr, score_thr
        self.fill_quota, self.clip_proposals = fill_quota, clip_proposals
        self.fusion = dict(fusion or {})

    @torch.no_grad()
    def rpn_boxes(self, images: ImageList, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Decoded RPN anchor boxes [N, A, 4] and their objectness probabilities [N, A] (before NMS), float32."""
        rpn = self.teacher.rpn
        objectness, deltas = rpn.head(features)
        anchors = rpn.anchor_generator(images, features)
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)  # [N*A, 1], [N*A, 4]
        num_images = len(anchors)
        with full_precision(images.tensors.device):
            boxes = rpn.box_coder.decode(deltas.float(), [a.float() for a in anchors]).view(num_images, -1, 4)
            return boxes, objectness.float().view(num_images, -1).sigmoid()

    def select_proposals(self, gt_boxes: Tensor, boxes: Tensor, objectness: Tensor) -> tuple[Tensor, Tensor]:
        """Indices [G, k] of each box's top proposals by objectness and a mask [G, k] of those selected: IoU with
        the box > ``proposal_iou``, and among the image's ``max_proposals`` of highest objectness (with
        ``fill_quota``: all ``k`` of each box, capped to the image's ``max_proposals`` largest weights)."""
        iou = box_iou(gt_boxes.float(), boxes.float())  # [G, A]
        k = min(self.proposals_per_box, boxes.shape[0])
        if self.fill_quota:
            weights = torch.where(iou > self.proposal_iou, objectness.float()[None, :], torch.zeros_like(iou))
            top, index = weights.topk(k, dim=1)  # [G, k]
            valid = torch.ones_like(top, dtype=torch.bool)
            if valid.numel() > self.max_proposals:
                keep = torch.zeros(valid.numel(), dtype=torch.bool, device=valid.device)
                keep[top.flatten().topk(self.max_proposals).indices] = True
                valid = keep.view_as(valid)
            return index, valid
        ranked = torch.where(iou > self.proposal_iou, objectness.float()[None, :], torch.full_like(iou, -1.0))
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
        with full_precision(proposals.device):
            refined = heads.box_coder.decode(box_regression.float(), [proposals.float()])  # [R, C, 4]
            return clip_boxes_to_image(refined, image_size), class_logits.float().softmax(dim=-1)

    def fuse(self, gt_boxes: Tensor, gt_labels: Tensor, refined: Tensor, probs: Tensor) -> Tensor:
        """Each box fused with every refined proposal's box and probability for the box's own class."""
        cand_boxes = refined[:, gt_labels].transpose(0, 1)  # [G, R, 4]
        cand_scores = probs[:, gt_labels].t()  # [G, R]
        return correct_boxes_per_gt(gt_boxes, cand_boxes, cand_scores, self.iou_thr, self.score_thr, **self.fusion)

    @torch.no_grad()
    def forward(self, images: ImageList, targets: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        features = self.teacher.backbone(images.tensors)
        all_boxes, all_objectness = self.rpn_boxes(images, list(features.values()))
        corrected = []
        for i, (target, size) in enumerate(zip(targets, images.image_sizes)):
            gt, labels = target["boxes"], target["labels"]
            new = gt.clone()
            if gt.shape[0] > 0:
                boxes = clip_boxes_to_image(all_boxes[i], size) if self.clip_proposals else all_boxes[i]
                index, valid = self.select_proposals(gt, boxes, all_objectness[i])
                if valid.any():
                    single = {name: level[i : i + 1] for name, level in features.items()}
                    refined, probs = self.refine(single, boxes[index[valid]], size)
                    new = self.fuse(gt, labels, refined, probs)
            corrected.append({**target, "boxes": new, "noisy_boxes": gt})
        return corrected
