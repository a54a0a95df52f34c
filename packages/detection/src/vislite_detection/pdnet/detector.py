"""The PDNet detector (backbone -> head -> losses / detections) and its registered variants."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vislite_detection.models.registry import register_detector
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.models.vit_fpn import tiny_vit_p3_p6, vit_p3_p7
from vislite_detection.models.weights import load_detector_weights
from vislite_detection.pdnet.assign import PDNET_STRIDES
from vislite_detection.pdnet.backbone import resnet_c5_fpn, tiny_resnet_c5_fpn
from vislite_detection.pdnet.head import PDNetHead
from vislite_detection.pdnet.loss import PDNetLoss
from vislite_detection.pdnet.postprocess import postprocess
from vislite_detection.pdnet.transform import CaffeTransform


class PDNet(nn.Module):
    """PDNet on any pyramid backbone (``out_channels`` attribute, ``OrderedDict`` of P3-P7-like maps).

    ``forward(images, targets)`` as torchvision's detectors: in training a dict of the three losses, in
    evaluation ``[{boxes, scores, labels, boundary_points, semantic_points}]`` in input-image pixels (labels
    ``1..K``; ``num_classes`` counts index 0 too, as in vislite's other detectors and PDNet's ``NUM_CLASSES``).
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        head: PDNetHead,
        loss: PDNetLoss,
        transform: DetectionTransform,
        strides: Sequence[int] = PDNET_STRIDES,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.6,
        detections_per_img: int = 100,
        topk_candidates: int = 1000,
    ) -> None:
        super().__init__()
        self.backbone, self.head, self.transform = backbone, head, transform
        self.loss = loss
        self.strides = tuple(int(s) for s in strides)
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img, self.topk_candidates = detections_per_img, topk_candidates

    def _check_targets(self, targets: list[dict[str, Tensor]] | None, count: int) -> None:
        if targets is None or len(targets) != count:
            raise ValueError(f"training needs one target dict per image ({count}), got {targets!r:.80}")
        for i, target in enumerate(targets):
            boxes = target.get("boxes")
            if boxes is None or boxes.dim() != 2 or boxes.shape[-1] != 4:
                raise ValueError(f"targets[{i}]['boxes'] must be a [M, 4] tensor, got {getattr(boxes, 'shape', None)}")
            if "labels" not in target or target["labels"].shape != boxes.shape[:1]:
                raise ValueError(f"targets[{i}]['labels'] must have one label per box")

    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training:
            self._check_targets(targets, len(images))
        original_sizes = [tuple(int(s) for s in image.shape[-2:]) for image in images]
        image_list, targets = self.transform(images, targets)
        features = list(self.backbone(image_list.tensors).values())
        if len(features) != len(self.strides):
            raise ValueError(f"the backbone gives {len(features)} levels for the strides {self.strides}")
        outputs = self.head(features)
        if self.training:
            assert targets is not None
            return self.loss(outputs, targets, image_list.image_sizes)
        detections = postprocess(
            outputs,
            image_list.image_sizes,
            strides=self.strides,
            score_thresh=self.score_thresh,
            topk_candidates=self.topk_candidates,
            nms_thresh=self.nms_thresh,
            detections_per_img=self.detections_per_img,
        )
        for det, size, original in zip(detections, image_list.image_sizes, original_sizes):
            scale = torch.tensor([original[1] / size[1], original[0] / size[0]], device=det["boxes"].device)
            det["boundary_points"] = det["boundary_points"] * scale
            det["semantic_points"] = det["semantic_points"] * scale
        return self.transform.postprocess(detections, image_list.image_sizes, original_sizes)


def build_pdnet(
    *,
    backbone: nn.Module,
    num_classes: int,
    strides: Sequence[int] = PDNET_STRIDES,
    num_convs: int = 4,
    norm_groups: int = 32,
    offset_limit_ratio: float | None = 1.5,
    prior_prob: float = 0.01,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
    coarse_loss_weight: float = 0.5,
    reg_loss_weight: float = 2.0,
    iou_thresholds: Sequence[float] = (0.6, 0.6),
    score_thresh: float = 0.05,
    nms_thresh: float = 0.6,
    detections_per_img: int = 100,
    topk_candidates: int = 1000,
    caffe_input: bool = False,
    min_size: int | Sequence[int] | None = None,
    max_size: int | None = None,
    weights: str | os.PathLike | None = None,
) -> PDNet:
    """PDNet over ``backbone`` with the official defaults (``configs/pdnet/*.yaml`` and ``defaults.py``).

    ``num_classes`` counts index 0 (COCO: 81 -> an 80-class head); ``iou_thresholds`` = (neg, pos) as
    ``LOSS.IOU_THRES``; ``caffe_input`` selects BGR 0-255 minus PDNet's means (else ImageNet mean / std);
    ``min_size`` / ``max_size`` resize inside the model (``None``: the data module resizes); ``weights`` is a
    local file of the whole detector.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes counts index 0 and must be >= 2, got {num_classes}")
    if len(iou_thresholds) != 2:
        raise ValueError(f"iou_thresholds must be (neg, pos), got {list(iou_thresholds)}")
    head = PDNetHead(
        backbone.out_channels,
        num_classes - 1,
        num_convs=num_convs,
        norm_groups=norm_groups,
        offset_limit_ratio=offset_limit_ratio,
        prior_prob=prior_prob,
    )
    loss = PDNetLoss(
        strides=strides,
        alpha=focal_alpha,
        gamma=focal_gamma,
        coarse_weight=coarse_loss_weight,
        reg_weight=reg_loss_weight,
        neg_iou_thr=iou_thresholds[0],
        pos_iou_thr=iou_thresholds[1],
    )
    transform_cls = CaffeTransform if caffe_input else DetectionTransform
    model = PDNet(
        backbone=backbone,
        head=head,
        loss=loss,
        transform=transform_cls(min_size=min_size, max_size=max_size),
        strides=strides,
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
        topk_candidates=topk_candidates,
    )
    if weights is not None:
        load_detector_weights(model, weights)
    return model


def _resnet_pdnet(arch: str, num_classes: int, weights_backbone: object, trainable_layers: int, kwargs: dict) -> PDNet:
    kwargs.setdefault("caffe_input", True)
    backbone = resnet_c5_fpn(arch, weights_backbone=weights_backbone, trainable_layers=trainable_layers)  # type: ignore[arg-type]
    return build_pdnet(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def pdnet_resnet50_fpn(
    *, num_classes: int = 81, weights_backbone: str | os.PathLike | None = None, trainable_layers: int = 3, **kwargs
) -> PDNet:
    """PDNet R-50-FPN (``R-50-FPN-RETINANET``, P6/P7 from C5), Caffe-style input."""
    return _resnet_pdnet("resnet50", num_classes, weights_backbone, trainable_layers, kwargs)


@register_detector
def pdnet_resnet101_fpn(
    *, num_classes: int = 81, weights_backbone: str | os.PathLike | None = None, trainable_layers: int = 3, **kwargs
) -> PDNet:
    """PDNet R-101-FPN, Caffe-style input."""
    return _resnet_pdnet("resnet101", num_classes, weights_backbone, trainable_layers, kwargs)


@register_detector
def pdnet_resnext101_64x4d_fpn(
    *, num_classes: int = 81, weights_backbone: str | os.PathLike | None = None, trainable_layers: int = 3, **kwargs
) -> PDNet:
    """PDNet X-101-64x4d-FPN (torchvision's ``resnext101_64x4d``), Caffe-style input."""
    return _resnet_pdnet("resnext101_64x4d", num_classes, weights_backbone, trainable_layers, kwargs)


@register_detector
def pdnet_vit_tiny_sfp(
    *,
    num_classes: int = 81,
    init: str | os.PathLike | None = None,
    backbone_name: str = "vislite_vit_tiny",
    img_size: int = 224,
    drop_path_rate: float = 0.1,
    out_channels: int = 256,
    **kwargs,
) -> PDNet:
    """PDNet over MAE-Lite's ViT-Tiny with a simple feature pyramid (P3-P7), ImageNet-normalised input."""
    backbone = vit_p3_p7(name=backbone_name, init=init, img_size=img_size, drop_path_rate=drop_path_rate,
                         out_channels=out_channels)
    return build_pdnet(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def test_pdnet(*, num_classes: int = 9, **kwargs) -> PDNet:
    """Tiny PDNet for tests and the embedded world: 16-128-wide ResNet, 32-channel FPN (P6/P7 from C5),
    2-conv towers with GroupNorm 8."""
    kwargs.setdefault("num_convs", 2)
    kwargs.setdefault("norm_groups", 8)
    return build_pdnet(backbone=tiny_resnet_c5_fpn(out_channels=32), num_classes=num_classes, **kwargs)


@register_detector
def test_pdnet_vit(*, num_classes: int = 9, init: str | os.PathLike | None = None, **kwargs) -> PDNet:
    """Tiny PDNet over the 4-block test ViT (P3-P6), for tests."""
    backbone = tiny_vit_p3_p6(init=init)
    kwargs.setdefault("num_convs", 1)
    kwargs.setdefault("norm_groups", 8)
    return build_pdnet(backbone=backbone, num_classes=num_classes, strides=(8, 16, 32, 64), **kwargs)
