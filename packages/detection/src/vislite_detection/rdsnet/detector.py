"""The RDSNet detector: backbone + FPN, object stream, pixel stream, correlation, cropping and MBRM."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import batched_nms, clip_boxes_to_image, sigmoid_focal_loss

from vislite_detection.eval.convert import rescale_boxes
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.rdsnet.assemble import assemble_masks
from vislite_detection.rdsnet.heads import ObjectStream, PixelStream
from vislite_detection.rdsnet.mask_loss import mask_loss
from vislite_detection.rdsnet.mbrm import mbrm_refine
from vislite_detection.rdsnet.targets import assign_anchors, sample_mask_instances

RDSNET_STRIDES = (8, 16, 32, 64, 128)
MASK_STRIDE = 4


def rdsnet_anchors(
    strides: Sequence[int] = RDSNET_STRIDES,
    *,
    octave_base_scale: float = 4.0,
    scales_per_octave: int = 3,
    ratios: Sequence[float] = (0.5, 1.0, 2.0),
) -> AnchorGenerator:
    """RetinaNet anchors: per level sizes ``stride * octave_base * 2^(i / scales_per_octave)`` (not truncated)."""
    sizes = tuple(
        tuple(float(s) * octave_base_scale * 2 ** (i / scales_per_octave) for i in range(scales_per_octave))
        for s in strides
    )
    return AnchorGenerator(sizes, (tuple(float(r) for r in ratios),) * len(strides))


def _pad_shape(size: Sequence[int], divisor: int) -> tuple[int, int]:
    return (int(math.ceil(size[0] / divisor) * divisor), int(math.ceil(size[1] / divisor) * divisor))


class RDSNet(nn.Module):
    """RDSNet (Wang et al., AAAI 2020) for labels ``1..K`` (``num_classes = K + 1``; the head has K sigmoid columns).

    Training returns ``{"classification", "bbox_regression", "mask"}``; evaluation returns per image ``boxes``
    (K, 4) XYXY, ``scores``, ``labels`` and ``masks`` (K, 1, H, W) uint8 (foreground probability cropped to the
    box padded by ``test_crop_padding`` and ``> mask_thr_binary``). With ``mbrm`` the boxes are refined from the
    masks (:func:`~vislite_detection.rdsnet.mbrm_refine`); ``mask_chunk`` instances are assembled at a time.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        num_classes: int,
        rep_channels: int = 32,
        num_convs: int = 4,
        feat_channels: int | None = None,
        pixel_channels: int | None = None,
        norm_groups: int = 32,
        rep_init_std: float = 0.01,
        strides: Sequence[int] = RDSNET_STRIDES,
        fg_iou_thresh: float = 0.5,
        bg_iou_thresh: float = 0.4,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        smooth_l1_beta: float = 0.11,
        masks_to_train: int = 100,
        min_mask_area: float = 100.0,
        train_crop_padding: float = 0.25,
        use_mask_ohem: bool = True,
        pos_neg_ratio: float = 1.0,
        mask_loss_weight: float = 1.0,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        topk_candidates: int = 1000,
        test_crop_padding: float = 0.1,
        mask_thr_binary: float = 0.4,
        mbrm: bool = False,
        mbrm_gamma: float = 0.05,
        mask_chunk: int = 16,
        transform: DetectionTransform | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes counts labels 1..K plus the background index 0; got {num_classes}")
        width = int(backbone.out_channels)
        self.backbone = backbone
        self.transform = transform or DetectionTransform()
        self.anchor_generator = rdsnet_anchors(strides)
        self.head = ObjectStream(
            in_channels=width,
            num_anchors=self.anchor_generator.num_anchors_per_location()[0],
            num_classes=num_classes - 1,
            rep_channels=rep_channels,
            feat_channels=feat_channels or width,
            num_convs=num_convs,
            norm_groups=norm_groups,
            rep_init_std=rep_init_std,
        )
        self.pixel_stream = PixelStream(
            in_channels=width,
            conv_channels=pixel_channels or width,
            rep_channels=rep_channels,
            norm_groups=norm_groups,
            rep_init_std=rep_init_std,
        )
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self.num_classes = num_classes
        self.focal = (focal_alpha, focal_gamma)
        self.smooth_l1_beta = smooth_l1_beta
        self.masks_to_train = masks_to_train
        self.min_mask_area = min_mask_area
        self.train_crop_padding = train_crop_padding
        self.use_mask_ohem = use_mask_ohem
        self.pos_neg_ratio = pos_neg_ratio
        self.mask_loss_weight = mask_loss_weight
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img
        self.topk_candidates = topk_candidates
        self.test_crop_padding = test_crop_padding
        self.mask_thr_binary = mask_thr_binary
        self.mbrm = mbrm
        self.mbrm_gamma = mbrm_gamma
        self.mask_chunk = mask_chunk

    # ----------------------------------------------------------------------------------------------- forward
    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training and targets is None:
            raise ValueError("RDSNet needs targets (boxes, labels, masks) in training mode")
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        batch, targets = self.transform(images, targets)
        features = list(self.backbone(batch.tensors).values())
        head_outputs = self.head(features)
        pixel_reps = self.pixel_stream(features)  # [B, D, Hp/4, Wp/4]
        anchors = self.anchor_generator(batch, features)
        if self.training:
            assert targets is not None
            return self.compute_loss(targets, head_outputs, pixel_reps, anchors, batch.image_sizes)
        per_location = self.anchor_generator.num_anchors_per_location()[0]
        level_sizes = [f.shape[-2] * f.shape[-1] * per_location for f in features]
        rescaled = original_sizes if self.transform.resize_in_model else None
        return self.postprocess(head_outputs, pixel_reps, anchors, level_sizes, batch.image_sizes, rescaled)

    def _pixel_reps_of(self, pixel_reps: Tensor, image_size: Sequence[int]) -> tuple[Tensor, tuple[int, int]]:
        """One image's pixel representations over its own padded extent (a multiple of the size divisor)."""
        pad = _pad_shape(image_size, self.transform.size_divisible)
        return pixel_reps[:, : pad[0] // MASK_STRIDE, : pad[1] // MASK_STRIDE], pad

    # --------------------------------------------------------------------------------------------------- loss
    def compute_loss(
        self,
        targets: list[dict[str, Tensor]],
        head_outputs: dict[str, Tensor],
        pixel_reps: Tensor,
        anchors: list[Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> dict[str, Tensor]:
        """Focal loss, SmoothL1 (beta 0.11) over the positives, and the cropped OHEM mask loss."""
        cls_losses, reg_losses = [], []
        mask_inputs: tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]] = ([], [], [], [])
        num_pos_total = 0
        for b, (target, anchor, size) in enumerate(zip(targets, anchors, image_sizes)):
            boxes, labels = target["boxes"], target["labels"].long()
            if "masks" not in target:
                raise ValueError("RDSNet trains on instance masks: each target needs 'masks' (N, H, W)")
            masks = target["masks"]
            if masks.shape[0] != boxes.shape[0] or tuple(masks.shape[-2:]) != tuple(size):
                raise ValueError(
                    f"image {b}: target masks {tuple(masks.shape)} must be ({boxes.shape[0]}, {size[0]}, {size[1]}) "
                    "(one mask per box, the size of the image)"
                )
            matched = assign_anchors(self.matcher, anchor, boxes)  # [A]
            valid = matched != Matcher.BETWEEN_THRESHOLDS
            positive = torch.nonzero(matched >= 0).squeeze(1)
            num_pos_total += max(int(positive.numel()), 1)
            cls_target = torch.zeros_like(head_outputs["cls_logits"][b])  # [A, K]
            assigned = matched[positive]
            cls_target[positive, labels[assigned] - 1] = 1.0
            cls_losses.append(
                sigmoid_focal_loss(
                    head_outputs["cls_logits"][b][valid],
                    cls_target[valid],
                    alpha=self.focal[0],
                    gamma=self.focal[1],
                    reduction="sum",
                )
            )
            deltas = self.box_coder.encode_single(boxes[assigned], anchor[positive])
            reg_losses.append(
                F.smooth_l1_loss(
                    head_outputs["bbox_regression"][b][positive], deltas, beta=self.smooth_l1_beta, reduction="sum"
                )
            )
            reps, pad = self._pixel_reps_of(pixel_reps[b], size)
            padded = masks.new_zeros(masks.shape[0], *pad)
            padded[:, : size[0], : size[1]] = masks
            chosen = sample_mask_instances(
                positive,
                assigned,
                padded.flatten(1).sum(1),
                max_instances=self.masks_to_train,
                min_area=self.min_mask_area,
            )
            gt_index = matched[chosen]
            clip = boxes.new_tensor([size[1] - 1, size[0] - 1, size[1] - 1, size[0] - 1])
            mask_inputs[0].append(reps)
            mask_inputs[1].append(head_outputs["obj_reps"][b][chosen])
            mask_inputs[2].append(torch.minimum(boxes[gt_index].clamp(min=0), clip))
            mask_inputs[3].append(padded[gt_index].to(reps.dtype))
        loss_mask = mask_loss(
            *mask_inputs,
            padding=self.train_crop_padding,
            use_mask_ohem=self.use_mask_ohem,
            pos_neg_ratio=self.pos_neg_ratio,
            loss_weight=self.mask_loss_weight,
        )
        return {
            "classification": torch.stack(cls_losses).sum() / num_pos_total,
            "bbox_regression": torch.stack(reg_losses).sum() / num_pos_total,
            "mask": loss_mask,
        }

    # ---------------------------------------------------------------------------------------------- inference
    def _candidates(
        self, head_outputs: dict[str, Tensor], b: int, anchors: Tensor, level_sizes: list[int], size: Sequence[int]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Top-``topk_candidates`` anchors per level by max class score, decoded and clipped:
        boxes [M, 4], scores [M, K], reps [M, 2, D]."""
        boxes, scores, reps = [], [], []
        start = 0
        for count in level_sizes:
            sl = slice(start, start + count)
            start += count
            level_scores = head_outputs["cls_logits"][b, sl].sigmoid()  # [A_l, K]
            keep = torch.arange(count, device=level_scores.device)
            if 0 < self.topk_candidates < count:
                keep = level_scores.max(dim=1).values.topk(self.topk_candidates).indices
            level_boxes = self.box_coder.decode_single(head_outputs["bbox_regression"][b, sl][keep], anchors[sl][keep])
            boxes.append(clip_boxes_to_image(level_boxes, tuple(size)))
            scores.append(level_scores[keep])
            reps.append(head_outputs["obj_reps"][b, sl][keep])
        return torch.cat(boxes), torch.cat(scores), torch.cat(reps)

    def postprocess(
        self,
        head_outputs: dict[str, Tensor],
        pixel_reps: Tensor,
        anchors: list[Tensor],
        level_sizes: list[int],
        image_sizes: list[tuple[int, int]],
        original_sizes: list[tuple[int, int]] | None = None,
    ) -> list[dict[str, Tensor]]:
        """Class-wise NMS carrying the object representations, then the masks of the kept detections.

        With ``original_sizes`` (the model resized its inputs) boxes are mapped back first and the mask logits
        resized to the original image (align_corners=True), as the official ``rescale`` test does.
        """
        results = []
        for b, (anchor, size) in enumerate(zip(anchors, image_sizes)):
            boxes, scores, reps = self._candidates(head_outputs, b, anchor, level_sizes, size)
            flat = scores.flatten()  # [M*K]
            keep = torch.nonzero(flat > self.score_thresh).squeeze(1)
            cand, cls = keep // scores.shape[1], keep % scores.shape[1]
            kept = batched_nms(boxes[cand], flat[keep], cls, self.nms_thresh)[: self.detections_per_img]
            det_boxes, det_scores = boxes[cand[kept]], flat[keep][kept]
            det_labels, det_reps = cls[kept] + 1, reps[cand[kept]]
            original = None
            if original_sizes is not None:
                original = original_sizes[b]
                det_boxes = rescale_boxes(det_boxes, size, original)
            masks, det_boxes = self._masks(pixel_reps[b], det_reps, det_boxes, size, original)
            results.append({"boxes": det_boxes, "scores": det_scores, "labels": det_labels, "masks": masks})
        return results

    def _masks(
        self, pixel_reps: Tensor, reps: Tensor, boxes: Tensor, size: Sequence[int], original: Sequence[int] | None
    ) -> tuple[Tensor, Tensor]:
        """Binary masks [N, 1, h, w] (uint8) of one image's detections and their (MBRM-refined) boxes."""
        reps_b, pad = self._pixel_reps_of(pixel_reps, size)
        masks, refined = [], []
        for start in range(0, max(reps.shape[0], 1), self.mask_chunk):
            sl = slice(start, start + self.mask_chunk)
            probs = assemble_masks(
                reps_b,
                reps[sl],
                boxes[sl],
                pad_shape=pad,
                img_shape=size,
                ori_shape=original,
                padding=self.test_crop_padding,
            )  # [n, H', W']
            if self.mbrm:
                refined.append(mbrm_refine(probs, boxes[sl], gamma=self.mbrm_gamma))
            masks.append((probs > self.mask_thr_binary).to(torch.uint8))
        out_boxes = torch.cat(refined) if self.mbrm else boxes
        return torch.cat(masks).unsqueeze(1), out_boxes
