"""HierKD: open-vocabulary one-stage (ATSS) detection with hierarchical visual-language distillation.

The exact functions (``text_logits``, ``softmax_focal_cls_loss``, ``global_kd_loss``, ``extract_regions``,
``instance_kd_loss``) import without the model; :class:`HierKD`, the teachers and the Lightning module load on
first use.
"""

from __future__ import annotations

from typing import Any

from vislite_detection.hierkd.atss import atss_assign, level_anchors
from vislite_detection.hierkd.cls_loss import sample_negatives, softmax_focal_cls_loss
from vislite_detection.hierkd.global_kd import global_kd_loss
from vislite_detection.hierkd.instance_kd import aligned_iou, instance_kd_loss
from vislite_detection.hierkd.logits import l2_normalise, text_logits
from vislite_detection.hierkd.regions import extract_regions

_LAZY = {
    "HierKD": "model",
    "HierKDHead": "head",
    "HierKDModule": "lit",
    "build_hierkd": "build",
    "CaptionBank": "captions",
    "VisionLanguageTeacher": "teacher",
    "OpenClipTeacher": "teacher",
    "WorldSurrogateTeacher": "surrogate",
    "fit_surrogate": "surrogate",
    "load_class_split": "ovd_split",
    "make_ovd_split": "ovd_split",
    "write_ovd_split": "ovd_split",
    "ovd_metrics": "ovd_eval",
    "per_class_ap50": "ovd_eval",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"vislite_detection.hierkd.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'vislite_detection.hierkd' has no attribute {name!r}")


__all__ = [
    "aligned_iou",
    "atss_assign",
    "extract_regions",
    "global_kd_loss",
    "instance_kd_loss",
    "l2_normalise",
    "level_anchors",
    "sample_negatives",
    "softmax_focal_cls_loss",
    "text_logits",
    *_LAZY,
]
