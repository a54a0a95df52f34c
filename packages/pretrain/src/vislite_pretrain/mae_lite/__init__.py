"""MAE-lite: MAE-Lite's masked autoencoder over vislite ViTs, its checkpoints and its speed options.

from vislite_pretrain.mae_lite import mae_vit_tiny_patch16
mae = mae_vit_tiny_patch16()                        # 224 px; mae_vit_tiny_patch16(img_size=96) for the demo
loss, pred, mask = mae(images, mask_ratio=0.75)     # pred [N, L, 16*16*3], mask [N, L] (1 = removed)
"""

from vislite_pretrain.mae_lite.loading import export_encoder, load_mae_lite, to_reference_keys, to_vislite_keys
from vislite_pretrain.mae_lite.masking import Masking, make_masking, random_masking
from vislite_pretrain.mae_lite.model import (
    MAE_MODELS,
    MaskedAutoencoderViT,
    build_mae,
    create_mae,
    mae_test_vit,
    mae_vit_base_patch16,
    mae_vit_small_patch16,
    mae_vit_tiny_patch16,
    masked_mse,
)
from vislite_pretrain.mae_lite.pos_embed import get_2d_sincos_pos_embed, sincos_pos_embed
from vislite_pretrain.mae_lite.speed import (
    optimizer_speed_kwargs,
    precision_context,
    set_attention_impl,
    tune_cpu_allocator,
)

__all__ = [
    "MAE_MODELS",
    "Masking",
    "MaskedAutoencoderViT",
    "build_mae",
    "create_mae",
    "export_encoder",
    "get_2d_sincos_pos_embed",
    "load_mae_lite",
    "mae_test_vit",
    "mae_vit_base_patch16",
    "mae_vit_small_patch16",
    "mae_vit_tiny_patch16",
    "make_masking",
    "masked_mse",
    "optimizer_speed_kwargs",
    "precision_context",
    "random_masking",
    "set_attention_impl",
    "sincos_pos_embed",
    "to_reference_keys",
    "to_vislite_keys",
    "tune_cpu_allocator",
]
