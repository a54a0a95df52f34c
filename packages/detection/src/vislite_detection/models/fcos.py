"""FCOS (torchvision's or mmdetection 2.8's head) with ResNet-50-FPN or ViT + simple feature pyramid backbones."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSClassificationHead, FCOSHead, FCOSRegressionHead

from vislite_detection.fcos_mmdet.points import REGRESS_RANGES
from vislite_detection.models.registry import register_detector
from vislite_detection.models.resnet_fpn import resnet50_fpn, tiny_resnet_fpn
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.models.vit_fpn import tiny_vit_p3_p6, vit_p3_p7
from vislite_detection.models.weights import load_detector_weights

FCOS_STRIDES = (8, 16, 32, 64, 128)
FCOS_HEADS = ("torchvision", "mmdet")


class LabelledFCOS(FCOS):
    """torchvision's FCOS for labels ``1..K`` (COCO's convention, 0 = background): column 0 is never detected.

    FCOS has no background class, so its ``K + 1`` columns leave column 0 without targets; torchvision's
    postprocessing would still report it. Here its scores are zeroed before thresholding.
    """

    def postprocess_detections(
        self, head_outputs: dict[str, list[Tensor]], anchors: list[list[Tensor]], image_shapes: list[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        masked = []
        for logits in head_outputs["cls_logits"]:  # per level [N, HW, C]
            logits = logits.clone()
            logits[..., 0] = float("-inf")
            masked.append(logits)
        return super().postprocess_detections({**head_outputs, "cls_logits": masked}, anchors, image_shapes)


def fcos_head(in_channels: int, num_classes: int, *, num_convs: int = 4, norm_groups: int = 32) -> FCOSHead:
    """torchvision's FCOS head (one anchor point per location) with GroupNorm of ``norm_groups`` groups."""
    if in_channels % norm_groups:
        raise ValueError(f"head width {in_channels} is not divisible into {norm_groups} GroupNorm groups")
    head = FCOSHead(in_channels, 1, num_classes, num_convs=num_convs)
    norm = partial(nn.GroupNorm, norm_groups)
    head.classification_head = FCOSClassificationHead(in_channels, 1, num_classes, num_convs, norm_layer=norm)
    head.regression_head = FCOSRegressionHead(in_channels, 1, num_convs, norm_layer=norm)
    return head


def build_fcos(
    *,
    backbone: nn.Module,
    num_classes: int,
    head: str = "torchvision",
    strides: Sequence[int] = FCOS_STRIDES,
    num_convs: int = 4,
    norm_groups: int = 32,
    center_sampling_radius: float = 1.5,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.6,
    detections_per_img: int = 100,
    topk_candidates: int = 1000,
    regress_ranges: Sequence[Sequence[float]] | None = None,
    cls_normalizer: str = "num_pos+num_imgs",
    min_size: int | Sequence[int] | None = None,
    max_size: int | None = None,
    input_style: str = "pytorch",
    weights: str | os.PathLike | None = None,
) -> nn.Module:
    """FCOS over ``backbone`` (P3-P7): torchvision's (``head="torchvision"``) or mmdetection 2.8's (``"mmdet"``).

    ``num_classes`` counts the class indices (the COCO labels ``1..K`` need ``K + 1``; index 0 is never a
    target). Defaults are COCO evaluation settings: score threshold 0.05 (torchvision's default is 0.2), NMS 0.6,
    100 detections, top-1000 candidates per level. ``head="mmdet"`` builds :class:`~vislite_detection.fcos_mmdet.
    detector.MMDetFCOS` (per-level Scale, centerness-weighted GIoU, half-stride points, cls x ctr threshold) and
    alone reads ``regress_ranges`` (default mmdetection's, first ``len(strides)``; the last one's end is open)
    and ``cls_normalizer``. ``min_size`` / ``max_size`` resize inside the model (``None``: the data module
    resizes). ``input_style`` is ``"pytorch"`` (RGB, ImageNet mean / std) or ``"caffe"`` (BGR 0-255 minus the
    Caffe mean, std 1). ``weights`` is a local file of the whole detector.
    """
    if head not in FCOS_HEADS:
        raise ValueError(f"FCOS head must be one of {FCOS_HEADS}, got {head!r}")
    transform = DetectionTransform(min_size=min_size, max_size=max_size, style=input_style)
    model: nn.Module
    if head == "mmdet":
        # imported here: fcos_mmdet.detector imports models.transform, whose package __init__ imports this module
        from vislite_detection.fcos_mmdet.detector import MMDetFCOS

        ranges = [list(r) for r in (regress_ranges or REGRESS_RANGES[: len(strides)])]
        if regress_ranges is None:
            ranges[-1][1] = REGRESS_RANGES[-1][1]
        model = MMDetFCOS(
            backbone=backbone,
            num_classes=num_classes,
            transform=transform,
            strides=strides,
            regress_ranges=ranges,
            num_convs=num_convs,
            norm_groups=norm_groups,
            center_sample_radius=center_sampling_radius,
            cls_normalizer=cls_normalizer,
            nms_pre=topk_candidates,
            score_thr=score_thresh,
            nms_iou=nms_thresh,
            max_per_img=detections_per_img,
        )
    else:
        anchors = AnchorGenerator(tuple((int(s),) for s in strides), ((1.0,),) * len(strides))
        model = LabelledFCOS(
            backbone,
            num_classes,
            anchor_generator=anchors,
            head=fcos_head(backbone.out_channels, num_classes, num_convs=num_convs, norm_groups=norm_groups),
            center_sampling_radius=center_sampling_radius,
            score_thresh=score_thresh,
            nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
            topk_candidates=topk_candidates,
        )
        model.transform = transform
    if weights is not None:
        load_detector_weights(model, weights)
    return model


@register_detector
def fcos_resnet50_fpn(
    *,
    num_classes: int = 81,
    weights_backbone: str | os.PathLike | None = None,
    trainable_layers: int = 3,
    style: str = "pytorch",
    **kwargs: object,
) -> nn.Module:
    """FCOS R-50-FPN (torchvision's ``fcos_resnet50_fpn``: 32.3 M parameters with 91 classes).

    ``style="caffe"`` is NDet's Caffe R-50 (stride in the first 1x1 convolution, BGR 0-255 input with std 1,
    weights from a local detectron2 ``.pkl`` or mmdetection ``caffe`` ``.pth`` file); see :func:`resnet50_fpn`.
    """
    backbone = resnet50_fpn(
        weights_backbone=weights_backbone, trainable_layers=trainable_layers, extra="p6p7", style=style
    )
    return build_fcos(backbone=backbone, num_classes=num_classes, input_style=style, **kwargs)


@register_detector
def fcos_vit_tiny_sfp(
    *,
    num_classes: int = 81,
    init: str | os.PathLike | None = None,
    backbone_name: str = "vislite_vit_tiny",
    img_size: int = 224,
    drop_path_rate: float = 0.1,
    out_channels: int = 256,
    **kwargs: object,
) -> nn.Module:
    """FCOS over MAE-Lite's ViT-Tiny with a simple feature pyramid (P3-P5 from the stride-16 map, P6-P7 by convs)."""
    backbone = vit_p3_p7(name=backbone_name, init=init, img_size=img_size, drop_path_rate=drop_path_rate,
                         out_channels=out_channels)
    return build_fcos(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def test_fcos(*, num_classes: int = 9, **kwargs: object) -> nn.Module:
    """Tiny FCOS for tests and the embedded world: 16-128-wide ResNet, 32-channel FPN, 2-conv head towers (GN 8)."""
    kwargs.setdefault("num_convs", 2)
    kwargs.setdefault("norm_groups", 8)  # 4 channels per group: P7 of a 128 px image is 1x1
    return build_fcos(backbone=tiny_resnet_fpn(out_channels=32, extra="p6p7"), num_classes=num_classes, **kwargs)


@register_detector
def test_fcos_vit(*, num_classes: int = 9, init: str | os.PathLike | None = None, **kwargs: object) -> nn.Module:
    """Tiny FCOS over the 4-block test ViT (patch 8, so P3 is its 2x upsampled map), for tests."""
    backbone = tiny_vit_p3_p6(init=init)
    kwargs.setdefault("num_convs", 1)
    kwargs.setdefault("norm_groups", 8)
    return build_fcos(backbone=backbone, num_classes=num_classes, strides=(8, 16, 32, 64), **kwargs)
