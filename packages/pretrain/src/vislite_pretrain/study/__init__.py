"""``make study``: MIM against contrastive pre-training and distillation as the fix, in miniature."""
