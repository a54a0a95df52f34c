"""MoCo-v3 for ViT: contrastive pre-training of vislite ViTs against a momentum encoder.

from vislite_pretrain.mocov3 import build_mocov3, byol_view_pair, cosine_momentum
moco = build_mocov3("vislite_vit_tiny", img_size=224)   # projector 192-4096-4096-256, predictor 256-4096-256
pair = byol_view_pair(224)                              # BYOL's asymmetric augmentations
moco.update_momentum_encoder(cosine_momentum(step, total_steps, 0.99))
loss = moco(view1, view2)                               # 2T x (CE(q1, k2) + CE(q2, k1)), T = 0.2
"""

from vislite_pretrain.mocov3.augment import ViewPair, byol_view, byol_view_pair
from vislite_pretrain.mocov3.data import (
    FixedViews,
    TwoViewImageFolderDataModule,
    WorldTwoViewDataModule,
)
from vislite_pretrain.mocov3.encoder import build_moco_vit, init_moco_vit, moco_sincos_pos_embed
from vislite_pretrain.mocov3.loading import (
    base_encoder_state,
    export_encoder,
    is_mocov3_state,
    load_mocov3,
    to_reference_keys,
    to_vislite_keys,
)
from vislite_pretrain.mocov3.loss import contrastive_loss, gather_keys, process_rank, symmetric_loss
from vislite_pretrain.mocov3.model import MoCoV3, build_mlp, build_mocov3
from vislite_pretrain.mocov3.momentum import cosine_momentum, momentum_update

__all__ = [
    "FixedViews",
    "MoCoV3",
    "TwoViewImageFolderDataModule",
    "ViewPair",
    "WorldTwoViewDataModule",
    "base_encoder_state",
    "build_mlp",
    "build_moco_vit",
    "build_mocov3",
    "byol_view",
    "byol_view_pair",
    "contrastive_loss",
    "cosine_momentum",
    "export_encoder",
    "gather_keys",
    "init_moco_vit",
    "is_mocov3_state",
    "load_mocov3",
    "moco_sincos_pos_embed",
    "momentum_update",
    "process_rank",
    "symmetric_loss",
    "to_reference_keys",
    "to_vislite_keys",
]
