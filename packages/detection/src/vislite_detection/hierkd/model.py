"""HierKD: an ATSS detector classifying in a teacher's text space, distilled from the teacher at two levels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import batched_nms, clip_boxes_to_image, generalized_box_iou_loss

from vislite_detection.hierkd.atss import ATSS_STRIDES, atss_assign, level_anchors
from vislite_detection.hierkd.captions import CaptionBank
from vislite_detection.hierkd.cls_loss import sample_negatives, softmax_focal_cls_loss
from vislite_detection.hierkd.global_kd import global_kd_loss
from vislite_detection.hierkd.head import HierKDHead
from vislite_detection.hierkd.instance_kd import aligned_iou, instance_kd_loss
from vislite_detection.hierkd.logits import l2_normalise, text_logits
from vislite_detection.hierkd.teacher import VisionLanguageTeacher
from vislite_detection.models.transform import DetectionTransform

EVAL_MODES = ("zsd", "gzsd", "seen")


class HierKD(nn.Module):
    """Open-vocabulary ATSS (one anchor per location, P3–P7) with instance- and global-level distillation.

    ``class_names`` are all classes in category-id order; ``unseen_classes`` the ones never trained on. Training
    targets carry labels 1..S over the seen classes (in that order) and ``image_id`` (for the captions).
    Evaluation (``eval_mode``) classifies against the unseen classes (``"zsd"``, labels 1..U), all classes
    (``"gzsd"``, labels 1..K) or the seen ones (``"seen"``). Class text embeddings are the teacher's normalised
    embeddings of ``prompt.format(name)``. The teacher is frozen and kept outside the module's parameters and
    state dict (it moves with ``.to()``). Losses: ``classification`` (softmax focal, ×1/exp(w)),
    ``cls_weight`` (|w|), ``bbox_regression`` (GIoU ×2 weighted by IoU quality), ``quality`` (BCE to IoU),
    ``instance_kd`` and ``global_kd``.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        teacher: VisionLanguageTeacher,
        class_names: Sequence[str],
        unseen_classes: Sequence[str],
        captions: CaptionBank | str | Sequence[str] | None = None,
        prompt: str = "a photo of a {}.",
        background_prompt: str = "a photo of background.",
        background_embedding_fix: bool = False,
        strides: Sequence[int] = ATSS_STRIDES,
        octave_base_scale: int = 8,
        atss_topk: int = 9,
        num_convs: int = 4,
        norm_groups: int = 32,
        tao: float = 100.0,
        cls_weight: float = 1.0,
        gamma: float = 2.0,
        alpha: float = 0.25,
        neg_sample_fraction: float | None = 0.1,
        bbox_loss_weight: float = 2.0,
        dist_instance: bool = True,
        instance_iou_thresh: float = 0.5,
        dist_instance_weight: float = 0.05,
        dist_featuremap: bool = True,
        dist_featuremap_tem: float = 10.0,
        dist_featuremap_patch: int = 3,
        dist_featuremap_pool: str = "max",
        eval_mode: str = "zsd",
        score_thresh: float = 0.0,
        nms_thresh: float = 0.4,
        detections_per_img: int = 100,
        topk_candidates: int = 1000,
        min_size: int | Sequence[int] | None = None,
        max_size: int | None = None,
    ) -> None:
        super().__init__()
        names = [str(n) for n in class_names]
        unseen = [str(n) for n in unseen_classes]
        bad = [n for n in unseen if n not in names]
        if bad:
            raise ValueError(f"unseen classes {bad} are not among class_names {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"class_names has duplicates: {names}")
        if eval_mode not in EVAL_MODES:
            raise ValueError(f"eval_mode must be one of {EVAL_MODES}, got {eval_mode!r}")
        if dist_featuremap and captions is None:
            raise ValueError("global distillation (dist_featuremap=True) needs captions (a COCO captions file)")
        self.class_names = names
        self.unseen_classes = [n for n in names if n in unseen]
        self.seen_classes = [n for n in names if n not in unseen]
        self.captions = captions if isinstance(captions, CaptionBank) or captions is None else CaptionBank(captions)
        self.prompt, self.eval_mode = prompt, eval_mode
        self.strides, self.octave_base_scale, self.atss_topk = tuple(strides), octave_base_scale, atss_topk
        self.gamma, self.alpha, self.neg_sample_fraction = gamma, alpha, neg_sample_fraction
        self.bbox_loss_weight = bbox_loss_weight
        self.dist_instance, self.instance_iou_thresh = dist_instance, instance_iou_thresh
        self.dist_instance_weight = dist_instance_weight
        self.dist_featuremap, self.dist_featuremap_patch = dist_featuremap, dist_featuremap_patch
        self.dist_featuremap_pool = dist_featuremap_pool
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img, self.topk_candidates = detections_per_img, topk_candidates
        self.background_embedding_fix = background_embedding_fix

        self._teacher = [teacher]  # a list: not a submodule (no parameters, no state dict, stays in eval mode)
        teacher.eval()
        self.backbone = backbone
        self.transform = DetectionTransform(min_size=min_size, max_size=max_size)
        self.head = HierKDHead(
            in_channels=backbone.out_channels,
            embed_dim=teacher.width,
            num_levels=len(self.strides),
            num_convs=num_convs,
            norm_groups=norm_groups,
        )
        self.box_coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0), bbox_xform_clip=math.log(1000.0 / 16))
        self.tao = nn.Parameter(torch.tensor(float(tao)))
        self.cls_weight = nn.Parameter(torch.tensor(float(cls_weight)))
        self.dist_featuremap_tem = nn.Parameter(torch.tensor(float(dist_featuremap_tem)))
        bg = teacher.text_embeddings([background_prompt]).reshape(-1)
        self.background = nn.Parameter(bg.clone(), requires_grad=not background_embedding_fix)
        for split, classes in (("seen", self.seen_classes), ("unseen", self.unseen_classes), ("all", names)):
            self.register_buffer(f"text_{split}", self._class_embeddings(classes), persistent=False)

    # ---------------------------------------------------------------------------------------------- plumbing
    @property
    def teacher(self) -> VisionLanguageTeacher:
        return self._teacher[0]

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self._teacher[0]._apply(fn, recurse)
        return self

    def _class_embeddings(self, classes: Sequence[str]) -> Tensor:
        if not classes:
            return torch.zeros(0, self.teacher.width)
        embeds = self.teacher.text_embeddings([self.prompt.format(name) for name in classes])
        if embeds.shape != (len(classes), self.teacher.width):
            raise ValueError(
                f"the teacher returned {tuple(embeds.shape)} text embeddings for {len(classes)} classes "
                f"(expected ({len(classes)}, {self.teacher.width}))"
            )
        return embeds

    def eval_classes(self) -> list[str]:
        """The class names of the evaluation labels 1..N for ``eval_mode``."""
        return {"zsd": self.unseen_classes, "gzsd": self.class_names, "seen": self.seen_classes}[self.eval_mode]

    def _eval_text(self) -> Tensor:
        return {"zsd": self.text_unseen, "gzsd": self.text_all, "seen": self.text_seen}[self.eval_mode]

    def logits(self, embeds: Tensor, text: Tensor) -> Tensor:
        """(N, D) raw embeddings → (N, C+1) logits (background last)."""
        return text_logits(
            embeds, text, self.background, tao=self.tao, background_embedding_fix=self.background_embedding_fix
        )

    # ------------------------------------------------------------------------------------------------ forward
    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training and targets is None:
            raise ValueError("HierKD needs targets in training mode")
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, targets = self.transform(images, targets)
        if not self.background_embedding_fix:
            with torch.no_grad():  # the official head re-normalises the learnable background in place
                self.background.data = l2_normalise(self.background.data)
        features = list(self.backbone(image_list.tensors).values())
        if len(features) != len(self.strides):
            raise ValueError(f"the backbone gave {len(features)} feature maps for {len(self.strides)} strides")
        out = self.head(features)
        sizes = [tuple(f.shape[-2:]) for f in features]
        anchors = level_anchors(
            sizes, self.strides, octave_base_scale=self.octave_base_scale, device=features[0].device,
            dtype=features[0].dtype,
        )
        if self.training:
            return self.compute_loss(out, anchors, targets, image_list.tensors)
        detections = self.postprocess(out, anchors, image_list.image_sizes)
        return self.transform.postprocess(detections, image_list.image_sizes, original_sizes)

    # --------------------------------------------------------------------------------------------------- loss
    def compute_loss(
        self, out: dict[str, list[Tensor]], anchors: list[Tensor], targets: list[dict[str, Tensor]], img: Tensor
    ) -> dict[str, Tensor]:
        num_seen = len(self.seen_classes)
        batch = img.shape[0]
        per_level = [a.shape[0] for a in anchors]
        labels_img, boxes_img = [], []
        for target in targets:
            gt_boxes, gt_labels = target["boxes"], target["labels"].long()
            if gt_labels.numel() and (gt_labels.min() < 1 or gt_labels.max() > num_seen):
                raise ValueError(
                    f"training labels must be 1..{num_seen} (the seen classes {self.seen_classes}); got "
                    f"{sorted(set(gt_labels.tolist()))}"
                )
            assigned, _ = atss_assign(anchors, gt_boxes, topk=self.atss_topk)
            labels = torch.full_like(assigned, num_seen)
            pos = assigned >= 0
            labels[pos] = gt_labels[assigned[pos]] - 1
            boxes = torch.zeros(assigned.shape[0], 4, dtype=anchors[0].dtype, device=assigned.device)
            boxes[pos] = gt_boxes[assigned[pos]].to(boxes.dtype)
            labels_img.append(labels.split(per_level))
            boxes_img.append(boxes.split(per_level))
        num_pos = sum(int((lab < num_seen).sum()) for labs in labels_img for lab in labs)
        num_total_samples = max(float(num_pos), 1.0)

        scores, labels_lvl, negs, bbox_losses, quality_losses, quality_sum = [], [], [], [], [], []
        ins_embeds, ins_pred, ins_gt, ins_img = [], [], [], []
        for lvl, level_anchor in enumerate(anchors):
            embeds = out["embeds"][lvl].permute(0, 2, 3, 1).reshape(-1, self.head.embed_dim)  # (B·H·W, D)
            deltas = out["deltas"][lvl].permute(0, 2, 3, 1).reshape(-1, 4)
            quality = out["quality"][lvl].permute(0, 2, 3, 1).reshape(-1)
            labels = torch.cat([labs[lvl] for labs in labels_img])  # rows (image, y, x)
            gt = torch.cat([bx[lvl] for bx in boxes_img])
            level_anchors_b = level_anchor.repeat(batch, 1)
            scores.append(self.logits(embeds, self.text_seen))
            labels_lvl.append(labels)
            fraction = self.neg_sample_fraction
            negs.append(None if fraction is None else sample_negatives(labels, num_seen, fraction))
            pos = torch.nonzero(labels < num_seen).squeeze(1)
            if len(pos):
                pred = self.box_coder.decode_single(deltas[pos], level_anchors_b[pos])
                target_q = aligned_iou(pred.detach(), gt[pos])
                giou = generalized_box_iou_loss(pred, gt[pos], reduction="none")
                bbox_losses.append((giou * target_q).sum())
                quality_losses.append(
                    F.binary_cross_entropy_with_logits(quality[pos], target_q, reduction="sum") / num_total_samples
                )
                quality_sum.append(target_q.sum())
            else:
                pred = deltas.new_zeros(0, 4)
                bbox_losses.append(deltas.sum() * 0)
                quality_losses.append(quality.sum() * 0)
            ins_embeds.append(l2_normalise(embeds[pos]))
            ins_pred.append(pred)
            ins_gt.append(gt[pos])
            ins_img.append(torch.div(pos, per_level[lvl], rounding_mode="floor"))
        avg = max(float(sum(q.item() for q in quality_sum)), 1.0)
        losses = {
            "classification": softmax_focal_cls_loss(
                scores, labels_lvl, negs, num_total_samples=num_total_samples, cls_weight=self.cls_weight,
                gamma=self.gamma, alpha=self.alpha,
            ),
            "cls_weight": self.cls_weight.abs(),
            "bbox_regression": self.bbox_loss_weight * sum(bbox_losses) / avg,
            "quality": sum(quality_losses),
        }
        if self.dist_instance:
            losses["instance_kd"] = instance_kd_loss(
                img, ins_embeds, ins_pred, ins_gt, ins_img, self.teacher.encode_image,
                instance_iou_thresh=self.instance_iou_thresh, dist_instance_weight=self.dist_instance_weight,
            )
        if self.dist_featuremap:
            losses["global_kd"] = self._global_kd(out["embeds"], targets)
        return losses

    def _global_kd(self, embeds: list[Tensor], targets: list[dict[str, Tensor]]) -> Tensor:
        if any("image_id" not in t for t in targets):
            raise ValueError("global distillation needs 'image_id' in every target (to look up its caption)")
        assert self.captions is not None
        texts = self.captions.sample([int(t["image_id"]) for t in targets])
        text = l2_normalise(self.teacher.encode_text(texts).to(embeds[0]))
        maps = [l2_normalise(e.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) for e in embeds]  # unit-norm (B, D, H, W)
        return global_kd_loss(
            maps, text, dist_featuremap_tem=self.dist_featuremap_tem,
            dist_featuremap_patch=self.dist_featuremap_patch, dist_featuremap_pool=self.dist_featuremap_pool,
        )

    # ------------------------------------------------------------------------------------------------ inference
    @torch.no_grad()
    def postprocess(
        self, out: dict[str, list[Tensor]], anchors: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        """Softmax over classes + background (background dropped) × sigmoid quality; top-k per level by the
        product, decoded and clipped; per-class NMS; the best ``detections_per_img``. Labels are 1-based."""
        text = self._eval_text()
        results = []
        for i, size in enumerate(image_sizes):
            boxes_all, scores_all, labels_all = [], [], []
            for lvl, level_anchor in enumerate(anchors):
                embeds = out["embeds"][lvl][i].permute(1, 2, 0).reshape(-1, self.head.embed_dim)
                deltas = out["deltas"][lvl][i].permute(1, 2, 0).reshape(-1, 4)
                quality = out["quality"][lvl][i].reshape(-1).sigmoid()
                probs = self.logits(embeds, text).softmax(dim=-1)[:, :-1]  # (HW, C)
                k = min(self.topk_candidates, probs.shape[0])
                _, top = (probs * quality[:, None]).max(dim=1).values.topk(k)
                boxes = clip_boxes_to_image(self.box_coder.decode_single(deltas[top], level_anchor[top]), size)
                scores = probs[top] * quality[top, None]  # (k, C)
                keep = scores > self.score_thresh
                rows, cols = torch.nonzero(keep, as_tuple=True)
                boxes_all.append(boxes[rows])
                scores_all.append(scores[rows, cols])
                labels_all.append(cols + 1)
            boxes, scores, labels = torch.cat(boxes_all), torch.cat(scores_all), torch.cat(labels_all)
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return results
