"""Full precision for box arithmetic: decoding and fusion never run in an enclosing autocast's bf16 / fp16."""

from vislite_detection.fcos_mmdet.precision import box_dtype, full_precision

__all__ = ["box_dtype", "full_precision"]
