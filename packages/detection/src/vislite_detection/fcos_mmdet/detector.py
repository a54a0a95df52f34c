"""A detector with mmdetection 2.8's FCOS head, loss and post-processing over any FPN backbone."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from vislite_detection.fcos_mmdet.head import MMDetFCOSHead
from vislite_detection.fcos_mmdet.loss import fcos_loss
from vislite_detection.fcos_mmdet.points import REGRESS_RANGES, STRIDES
from vislite_detection.fcos_mmdet.postprocess import fcos_postprocess
from vislite_detection.models.transform import DetectionTransform


class MMDetFCOS(nn.Module):
    """FCOS as NDet trains it (mmdetection 2.8), with torchvision's detector interface.

    ``model(images, targets)`` returns ``{"loss_cls", "loss_bbox", "loss_centerness"}`` in training and
    ``[{"boxes", "scores", "labels"}]`` in evaluation. Labels follow vislite's convention (COCO labels ``1..K``,
    ``num_classes = K + 1``, index 0 unused): the head predicts ``K`` classes and label ``l`` is its column
    ``l - 1``. ``transform`` normalises and pads (and may resize) as for torchvision's detectors.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        num_classes: int,
        transform: DetectionTransform,
        strides: Sequence[int] = STRIDES,
        regress_ranges: Sequence[Sequence[float]] = REGRESS_RANGES,
        num_convs: int = 4,
        norm_groups: int = 32,
        center_sampling: bool = True,
        center_sample_radius: float = 1.5,
        norm_on_bbox: bool = True,
        cls_normalizer: str = "num_pos+num_imgs",
        nms_pre: int = 1000,
        score_thr: float = 0.05,
        nms_iou: float = 0.6,
        max_per_img: int = 100,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes counts labels 0..K with 0 unused, so it must be >= 2, got {num_classes}")
        if len(regress_ranges) != len(strides):
            raise ValueError(f"got {len(regress_ranges)} regress ranges for {len(strides)} strides {tuple(strides)}")
        self.backbone, self.transform = backbone, transform
        self.num_classes = num_classes
        self.strides = tuple(int(s) for s in strides)
        self.regress_ranges = tuple(tuple(float(v) for v in r) for r in regress_ranges)
        self.head = MMDetFCOSHead(
            backbone.out_channels, num_classes - 1, strides=self.strides, num_convs=num_convs, norm_groups=norm_groups
        )
        self.center_sampling, self.center_sample_radius = center_sampling, center_sample_radius
        self.norm_on_bbox, self.cls_normalizer = norm_on_bbox, cls_normalizer
        self.nms_pre, self.score_thr, self.nms_iou, self.max_per_img = nms_pre, score_thr, nms_iou, max_per_img

    def head_outputs(self, images: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """The head's per-level (cls logits, distances, centerness logits) on a padded batch [B, 3, H, W]."""
        return self.head(list(self.backbone(images).values()))

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training and targets is None:
            raise ValueError("MMDetFCOS needs targets in training mode")
        original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        image_list, targets = self.transform(images, targets)
        cls_scores, bbox_preds, centernesses = self.head_outputs(image_list.tensors)
        if self.training:
            assert targets is not None
            return fcos_loss(
                cls_scores,
                bbox_preds,
                centernesses,
                [t["boxes"] for t in targets],
                [t["labels"] - 1 for t in targets],
                num_classes=self.num_classes - 1,
                strides=self.strides,
                regress_ranges=self.regress_ranges,
                center_sampling=self.center_sampling,
                center_sample_radius=self.center_sample_radius,
                norm_on_bbox=self.norm_on_bbox,
                cls_normalizer=self.cls_normalizer,
            )
        detections = fcos_postprocess(
            cls_scores,
            bbox_preds,
            centernesses,
            image_list.image_sizes,
            strides=self.strides,
            nms_pre=self.nms_pre,
            score_thr=self.score_thr,
            nms_iou=self.nms_iou,
            max_per_img=self.max_per_img,
        )
        results = [{"boxes": b.float(), "scores": s.float(), "labels": lb + 1} for b, s, lb in detections]
        return self.transform.postprocess(results, image_list.image_sizes, original_sizes)
