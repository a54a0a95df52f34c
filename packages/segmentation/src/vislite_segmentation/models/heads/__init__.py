"""Decode heads: Semantic FPN, UperNet and the auxiliary FCN head; each maps a feature list to class logits."""

from vislite_segmentation.models.heads.base import DecodeHead
from vislite_segmentation.models.heads.fcn import FCNHead
from vislite_segmentation.models.heads.fpn import FPNHead
from vislite_segmentation.models.heads.upernet import UPerHead

__all__ = ["DecodeHead", "FCNHead", "FPNHead", "UPerHead"]
