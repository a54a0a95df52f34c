"""LightningModules of vislite-pretrain: MAE-lite pre-training, fine-tuning and linear probing."""
