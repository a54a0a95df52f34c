"""The main job: MAE-lite pre-training, fine-tuning and linear probing on the embedded world."""
