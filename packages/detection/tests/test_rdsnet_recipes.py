"""RDSNet recipes: the official configs' numbers, composed and built (R-50 / R-101, with and without MBRM)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from vislite_common.engine.compose import compose_config
from vislite_detection.rdsnet import RDSNet

RECIPES = {
    "rdsnet_r50_fpn_1x_coco": (50, False),
    "rdsnet_refine_r50_fpn_1x_coco": (50, True),
    "rdsnet_r101_fpn_1x_coco": (101, False),
    "rdsnet_refine_r101_fpn_1x_coco": (101, True),
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_match_the_official_configs(name: str, tmp_path) -> None:
    depth, refine = RECIPES[name]
    cfg = compose_config("vislite_detection.configs", [f"experiment={name}", "logger=none"], output_dir=tmp_path)
    model = cfg.model.model
    assert model.name == f"rdsnet_resnet{depth}_fpn" and model.num_classes == 81
    assert model.mbrm is refine and model.mbrm_gamma == 0.05
    assert model.trainable_layers == 3  # frozen_stages=1
    assert (model.fg_iou_thresh, model.bg_iou_thresh) == (0.5, 0.4)
    assert (model.focal_alpha, model.focal_gamma, model.smooth_l1_beta) == (0.25, 2.0, 0.11)
    assert (model.masks_to_train, model.min_mask_area, model.train_crop_padding) == (100, 100, 0.25)
    assert model.use_mask_ohem is True and model.pos_neg_ratio == 1 and model.rep_channels == 32
    assert (model.score_thresh, model.nms_thresh, model.detections_per_img, model.topk_candidates) == (
        0.05,
        0.5,
        100,
        1000,
    )
    assert (model.test_crop_padding, model.mask_thr_binary) == (0.1, 0.4)
    opt, sched = cfg.model.optimizer, cfg.model.scheduler
    assert (opt.lr, opt.base_batch_size, opt.momentum, opt.weight_decay) == (0.005, 8, 0.9, 1e-4)
    assert opt.get("bias_lr_mult", 1.0) == 1.0 and opt.get("bias_decay_mult", 1.0) == 1.0
    assert list(sched.milestones) == [8, 11] and sched.gamma == 0.1
    assert (sched.warmup, sched.warmup_iters, sched.warmup_ratio) == ("linear", 500, pytest.approx(1 / 3))
    assert cfg.trainer.max_epochs == 12 and cfg.trainer.gradient_clip_val == 35
    assert cfg.data.with_masks is True and cfg.data.batch_size == 8
    assert (list(cfg.data.train_scales), cfg.data.max_size, cfg.data.test_scale, cfg.data.flip_prob) == (
        [800],
        1333,
        800,
        0.5,
    )


def test_r50_recipe_builds_the_official_network(tmp_path) -> None:
    cfg = compose_config(
        "vislite_detection.configs", ["experiment=rdsnet_refine_r50_fpn_1x_coco", "logger=none"], output_dir=tmp_path
    )
    model: RDSNet = instantiate(cfg.model.model)
    assert isinstance(model, RDSNet) and model.mbrm
    head = model.head
    assert head.num_anchors == 9 and head.num_classes == 80 and head.rep_channels == 32
    assert head.obj_rep.out_channels == 9 * 2 * 32 and len(head.rep_tower) == 4
    assert isinstance(head.rep_tower[0][1], torch.nn.GroupNorm) and head.rep_tower[0][1].num_groups == 32
    assert model.pixel_stream.to_reps.out_channels == 32
    sizes = model.anchor_generator.sizes
    assert sizes[0] == pytest.approx((32.0, 32 * 2 ** (1 / 3), 32 * 2 ** (2 / 3)))  # not truncated
    assert sizes[-1][0] == 512.0
    # P6 / P7 from C5 (mmdetection's add_extra_convs on the inputs): the P6 conv reads 2048 channels
    assert model.backbone.fpn.extra_blocks.p6.in_channels == 2048
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 160, 224)])
    assert out[0]["masks"].shape[-2:] == (160, 224) and out[0]["masks"].dtype == torch.uint8


def test_rdsnet_runs_on_a_vit_simple_feature_pyramid() -> None:
    from vislite_detection.models import vit_sfp
    from vislite_detection.rdsnet import build_rdsnet

    backbone = vit_sfp(  # the 4-block test ViT (patch 8): P3, P4 from its map, P5 / P6 by convs
        name="test_vislite_vit", img_size=32, drop_path_rate=0.0, scale_factors=(1.0, 0.5), out_channels=32
    )
    model = build_rdsnet(
        backbone=backbone, num_classes=9, strides=(8, 16, 32, 64), num_convs=1, norm_groups=8, rep_channels=8
    )
    masks = torch.zeros(1, 64, 96, dtype=torch.uint8)
    masks[0, 10:50, 20:70] = 1
    target = {"boxes": torch.tensor([[20.0, 10.0, 70.0, 50.0]]), "labels": torch.tensor([3]), "masks": masks}
    losses = model.train()([torch.rand(3, 64, 96)], [target])
    assert set(losses) == {"classification", "bbox_regression", "mask"} and losses["mask"] > 0
    sum(losses.values()).backward()
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 64, 96)])[0]
    assert out["masks"].shape[1:] == (1, 64, 96)
