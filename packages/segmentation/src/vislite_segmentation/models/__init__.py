"""Segmentation models: ViT and pyramid (ResNet, Hiera) backbones, the ViT neck, decode heads, the segmentor
and its builders."""

from vislite_segmentation.models.backbone import ViTBackbone, build_vit_backbone
from vislite_segmentation.models.build import backbone_kind, build_backbone, build_pyramid_backbone, build_segmentor
from vislite_segmentation.models.heads import FCNHead, FPNHead, UPerHead
from vislite_segmentation.models.neck import FeaturePyramidNeck
from vislite_segmentation.models.pyramid import PyramidBackbone
from vislite_segmentation.models.segmentor import EncoderDecoder
from vislite_segmentation.models.weights import load_backbone_weights

__all__ = [
    "EncoderDecoder",
    "FCNHead",
    "FPNHead",
    "FeaturePyramidNeck",
    "PyramidBackbone",
    "UPerHead",
    "ViTBackbone",
    "backbone_kind",
    "build_backbone",
    "build_pyramid_backbone",
    "build_segmentor",
    "build_vit_backbone",
    "load_backbone_weights",
]
