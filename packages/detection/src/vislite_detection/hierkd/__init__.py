"""HierKD: open-vocabulary one-stage (ATSS) detection with hierarchical visual-language distillation."""

from vislite_detection.hierkd.cls_loss import sample_negatives, softmax_focal_cls_loss
from vislite_detection.hierkd.global_kd import global_kd_loss
from vislite_detection.hierkd.instance_kd import instance_kd_loss
from vislite_detection.hierkd.logits import text_logits
from vislite_detection.hierkd.regions import extract_regions

__all__ = [
    "extract_regions",
    "global_kd_loss",
    "instance_kd_loss",
    "sample_negatives",
    "softmax_focal_cls_loss",
    "text_logits",
]
