"""vislite-pretrain: MAE-lite pre-training, fine-tuning and linear probing of lightweight ViTs."""

__version__ = "0.1.0"
