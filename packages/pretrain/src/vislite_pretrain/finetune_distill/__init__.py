"""DeiT-style distillation fine-tuning of MAE-Lite (``projects/eval_tools/finetuning_distill_exp.py``).

With global average pooling the class token becomes the distillation token: the mean of the patch tokens feeds
``fc_norm`` and ``head``, the class token feeds ``dist_norm`` and ``head_dist``; a frozen ImageNet classifier
(timm ``regnety_160``) is the teacher. Training loss ``(1 - alpha) * CE(head) + alpha * distill(head_dist)``;
evaluation averages both heads' logits. arXiv v1's headline ViT-Tiny 78.4% is this recipe's 1000-epoch row.
"""

from vislite_pretrain.finetune_distill.model import (
    DistillTokenViT,
    build_distilled_vit_classifier,
    load_classifier_teacher,
)
from vislite_pretrain.finetune_distill.module import DistillFinetuneClassifier, distillation_loss

__all__ = [
    "DistillFinetuneClassifier",
    "DistillTokenViT",
    "build_distilled_vit_classifier",
    "distillation_loss",
    "load_classifier_teacher",
]
