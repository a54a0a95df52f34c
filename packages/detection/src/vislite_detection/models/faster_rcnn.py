"""Faster R-CNN (torchvision's implementation) with ResNet-50-FPN or ViT + simple feature pyramid backbones."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from vislite_detection.models.l1_box_loss import use_l1_box_losses
from vislite_detection.models.mmcv_roi_align import MMCVMultiScaleRoIAlign
from vislite_detection.models.registry import register_detector
from vislite_detection.models.resnet_fpn import resnet50_fpn, tiny_resnet_fpn
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.models.vit_fpn import vit_sfp
from vislite_detection.models.weights import load_detector_weights

ANCHOR_SIZES = (32, 64, 128, 256, 512)
BOX_LOSSES = ("l1", "smooth_l1")
ROI_ALIGNS = ("torchvision", "mmcv")


def build_faster_rcnn(
    *,
    backbone: nn.Module,
    num_classes: int,
    anchor_sizes: Sequence[int] = ANCHOR_SIZES,
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    representation_size: int = 1024,
    box_score_thresh: float = 0.05,
    box_nms_thresh: float = 0.5,
    box_detections_per_img: int = 100,
    rpn_batch_size_per_image: int = 256,
    box_batch_size_per_image: int = 512,
    rpn_pre_nms_top_n: tuple[int, int] = (2000, 1000),
    rpn_post_nms_top_n: tuple[int, int] = (2000, 1000),
    min_size: int | Sequence[int] | None = None,
    max_size: int | None = None,
    box_loss: str = "l1",
    roi_align: str = "torchvision",
    weights: str | os.PathLike | None = None,
) -> FasterRCNN:
    """torchvision's Faster R-CNN over an FPN-style ``backbone`` with levels ``"0"``..``"3"`` and ``"pool"``.

    ``num_classes`` includes the background (COCO: 81). One anchor size per level (``anchor_sizes``), three
    aspect ratios, RoIAlign 7x7 over the four finest levels, a two-layer MLP box head of ``representation_size``.
    ``rpn_pre_nms_top_n`` / ``rpn_post_nms_top_n`` are (training, testing) proposal counts (torchvision's).
    Defaults are the COCO evaluation settings: score threshold 0.05, NMS 0.5, 100 detections. ``box_loss`` is
    ``"l1"`` (mmdetection 2.x's Faster R-CNN, which the paper configs use; :mod:`.l1_box_loss`) or ``"smooth_l1"``
    (torchvision's, beta 1/9) in both the RPN and the RoI head. ``roi_align`` is ``"torchvision"`` (sampling
    ratio 2, not aligned, levels from the canonical 224 px box) or ``"mmcv"`` (mmdetection 2.x's: aligned,
    adaptive sampling ratio, levels from the finest scale 56, strides 4-32; :mod:`.mmcv_roi_align`).
    """
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
    if roi_align not in ROI_ALIGNS:
        raise ValueError(f"roi_align must be one of {ROI_ALIGNS}, got {roi_align!r}")
    num_levels = len(anchor_sizes)
    anchors = AnchorGenerator(tuple((int(s),) for s in anchor_sizes), (tuple(aspect_ratios),) * num_levels)
    names = [str(i) for i in range(num_levels - 1)]
    roi_pool: nn.Module = MultiScaleRoIAlign(featmap_names=names, output_size=7, sampling_ratio=2)
    if roi_align == "mmcv":
        roi_pool = MMCVMultiScaleRoIAlign(names, 7, featmap_strides=[4 * 2**i for i in range(len(names))])
    box_head = TwoMLPHead(backbone.out_channels * 7 * 7, representation_size)
    model = FasterRCNN(
        backbone,
        num_classes=None,
        rpn_anchor_generator=anchors,
        box_roi_pool=roi_pool,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        box_score_thresh=box_score_thresh,
        box_nms_thresh=box_nms_thresh,
        box_detections_per_img=box_detections_per_img,
        rpn_batch_size_per_image=rpn_batch_size_per_image,
        box_batch_size_per_image=box_batch_size_per_image,
        rpn_pre_nms_top_n_train=rpn_pre_nms_top_n[0],
        rpn_pre_nms_top_n_test=rpn_pre_nms_top_n[1],
        rpn_post_nms_top_n_train=rpn_post_nms_top_n[0],
        rpn_post_nms_top_n_test=rpn_post_nms_top_n[1],
    )
    model.transform = DetectionTransform(min_size=min_size, max_size=max_size)
    if box_loss == "l1":
        use_l1_box_losses(model)
    if weights is not None:
        load_detector_weights(model, weights)
    return model


@register_detector
def faster_rcnn_resnet50_fpn(
    *,
    num_classes: int = 81,
    weights_backbone: str | os.PathLike | None = None,
    trainable_layers: int = 3,
    norm_eval: bool = False,
    **kwargs: object,
) -> FasterRCNN:
    """Faster R-CNN R-50-FPN (torchvision's ``fasterrcnn_resnet50_fpn``: 41.8 M parameters with 91 classes).

    ``norm_eval=True``: mmdetection's batch norm (statistics frozen, scale and shift trained in the trainable
    stages) instead of torchvision's ``FrozenBatchNorm2d``.
    """
    backbone = resnet50_fpn(
        weights_backbone=weights_backbone,
        trainable_layers=trainable_layers,
        returned_layers=(1, 2, 3, 4),
        extra="maxpool",
        norm_eval=norm_eval,
    )
    return build_faster_rcnn(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def faster_rcnn_vit_tiny_sfp(
    *,
    num_classes: int = 81,
    init: str | os.PathLike | None = None,
    img_size: int = 224,
    drop_path_rate: float = 0.1,
    out_channels: int = 256,
    **kwargs: object,
) -> FasterRCNN:
    """Faster R-CNN over MAE-Lite's ViT-Tiny with ViTDet's simple feature pyramid (P2-P5 + max-pooled P6)."""
    backbone = vit_sfp(
        name="vislite_vit_tiny",
        init=init,
        img_size=img_size,
        drop_path_rate=drop_path_rate,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        extra="maxpool",
        out_channels=out_channels,
    )
    return build_faster_rcnn(backbone=backbone, num_classes=num_classes, **kwargs)


@register_detector
def test_faster_rcnn(*, num_classes: int = 9, **kwargs: object) -> FasterRCNN:
    """Tiny Faster R-CNN for tests and the embedded world: 16-128-wide ResNet, 32-channel FPN, 128-wide box head,
    300 proposals per level and image, 64 sampled RoIs per image."""
    kwargs.setdefault("anchor_sizes", (16, 32, 64, 128, 256))
    kwargs.setdefault("representation_size", 128)
    kwargs.setdefault("rpn_batch_size_per_image", 64)
    kwargs.setdefault("box_batch_size_per_image", 64)
    kwargs.setdefault("rpn_pre_nms_top_n", (300, 300))
    kwargs.setdefault("rpn_post_nms_top_n", (300, 100))
    backbone = tiny_resnet_fpn(out_channels=32, returned_layers=(1, 2, 3, 4), extra="maxpool")
    return build_faster_rcnn(backbone=backbone, num_classes=num_classes, **kwargs)
