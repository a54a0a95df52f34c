"""Hiera-MAE: MAE-Lite's masked autoencoder over Hiera-Tiny(46), its distillation variant and its checkpoints.

Usage::

    from vislite_pretrain.hiera_mae import export_encoder, mae_hiera_tiny46
    mae = mae_hiera_tiny46()                          # 224 px; mae_hiera_tiny46(img_size=96) for the demo
    loss, pred, mask = mae(images, mask_ratio=0.4)    # pred [N, 196, 3*16*16], mask [N, 196] (1 = removed)
    export_encoder(mae, "hiera_tiny46.pth")           # loads into timm.create_model("vislite_hiera_tiny46")

The distillation variant (D-MAE against MAE-Hiera-Base) is :mod:`vislite_pretrain.hiera_mae.distill`.
"""

from vislite_pretrain.hiera_mae.loading import (
    encoder_state_dict,
    export_encoder,
    load_hiera_encoder_weights,
    load_hiera_mae,
    to_reference_keys,
    to_vislite_keys,
)
from vislite_pretrain.hiera_mae.model import (
    HIERA_BASE_ARGS,
    HIERA_MAE_MODELS,
    HieraMAE,
    build_hiera_mae,
    create_hiera_mae,
    hiera_base_encoder,
    mae_hiera_base,
    mae_hiera_tiny46,
    mae_test_hiera,
)

__all__ = [
    "HIERA_BASE_ARGS",
    "HIERA_MAE_MODELS",
    "HieraMAE",
    "build_hiera_mae",
    "create_hiera_mae",
    "encoder_state_dict",
    "export_encoder",
    "hiera_base_encoder",
    "load_hiera_encoder_weights",
    "load_hiera_mae",
    "mae_hiera_base",
    "mae_hiera_tiny46",
    "mae_test_hiera",
    "to_reference_keys",
    "to_vislite_keys",
]
