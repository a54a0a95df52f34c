"""PDNet's experiment configs carry the official recipes number for number, and their detectors build."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from vislite_common.engine.compose import compose_config
from vislite_detection.pdnet import PDNet
from vislite_detection.pdnet.transform import CAFFE_MEAN_BGR, CaffeTransform

RECIPES = {  # experiment -> (detector, training scales, README test-dev AP)
    "pdnet_r50_fpn_2x_coco": ("pdnet_resnet50_fpn", [640, 800], 44.3),
    "pdnet_r50_fpn_2xx_coco": ("pdnet_resnet50_fpn", [480, 960], 45.0),
    "pdnet_r101_fpn_2x_coco": ("pdnet_resnet101_fpn", [640, 800], 45.7),
    "pdnet_r101_fpn_2xx_coco": ("pdnet_resnet101_fpn", [480, 960], 46.6),
    "pdnet_x101_64x4d_fpn_2x_coco": ("pdnet_resnext101_64x4d_fpn", [640, 800], 47.4),
    "pdnet_x101_64x4d_fpn_2xx_coco": ("pdnet_resnext101_64x4d_fpn", [480, 960], 48.7),
}


def _compose(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config("vislite_detection.configs", list(overrides), output_dir=tmp_path)


@pytest.mark.parametrize("experiment", sorted(RECIPES))
def test_recipe_numbers(experiment: str, tmp_path: Path) -> None:
    name, scales, ap = RECIPES[experiment]
    cfg = _compose(tmp_path, f"experiment={experiment}")
    config_text = (
        Path(__file__).parents[1] / "src/vislite_detection/configs/experiment" / f"{experiment}.yaml"
    ).read_text()
    assert f"{ap} AP" in config_text  # the official number in the header
    data, model, opt, sched = cfg.data, cfg.model.model, cfg.model.optimizer, cfg.model.scheduler
    assert list(data.train_scales) == scales and (data.max_size, data.test_scale, data.flip_prob) == (1333, 800, 0.5)
    assert data.batch_size == 16 and cfg.trainer.max_epochs == 24
    assert (opt.lr, opt.base_batch_size, opt.momentum, opt.weight_decay) == (0.01, 16, 0.9, 1e-4)
    assert (opt.bias_lr_mult, opt.bias_decay_mult) == (1.0, 1.0)
    assert (list(sched.milestones), sched.gamma, sched.warmup, sched.warmup_iters, sched.warmup_ratio) == (
        [16, 22],
        0.1,
        "linear",
        500,
        0.001,
    )
    assert (model.name, model.num_classes, model.trainable_layers, model.caffe_input) == (name, 81, 3, True)
    assert (model.score_thresh, model.nms_thresh, model.detections_per_img, model.topk_candidates) == (
        0.05,
        0.6,
        100,
        1000,
    )


@pytest.mark.parametrize(
    "experiment", ["pdnet_r50_fpn_2xx_coco", "pdnet_r101_fpn_2x_coco", "pdnet_x101_64x4d_fpn_2x_coco"]
)
def test_recipe_detectors_build(experiment: str, tmp_path: Path) -> None:
    cfg = _compose(tmp_path, f"experiment={experiment}")
    with torch.device("meta"):  # the structure without allocating or initialising 50-80 M parameters
        model = instantiate(cfg.model.model)
    assert isinstance(model, PDNet) and isinstance(model.transform, CaffeTransform)
    assert model.transform.mean_bgr == CAFFE_MEAN_BGR
    assert model.head.cls_map_pred.out_channels == 9 * 80 and model.head.dyn_pt_pred.out_channels == 34
    p6 = model.backbone.fpn.extra_blocks.p6
    assert p6.in_channels == 2048 and p6.out_channels == 256  # P6 from C5 (USE_C5)
    if "x101" in experiment:
        assert model.backbone.body.layer1[0].conv2.groups == 64
    assert len(model.backbone.body.layer3) == (6 if "r50" in experiment else 23)


def test_demo_experiment_composes(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, "experiment=demo_pdnet")
    assert cfg.model.model.name == "test_pdnet" and cfg.data.image_size == 128
    demo = _compose(tmp_path, "experiment=demo_detection")
    assert (cfg.data.num_train, cfg.trainer.max_epochs) == (demo.data.num_train, demo.trainer.max_epochs)
    assert cfg.model.optimizer == demo.model.optimizer and cfg.model.scheduler == demo.model.scheduler


def test_vit_model_config_builds(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, "model=pdnet_vit_tiny")
    model = instantiate(cfg.model.model, num_classes=3)
    assert isinstance(model, PDNet) and not isinstance(model.transform, CaffeTransform)
    assert model.strides == (8, 16, 32, 64, 128) and model.head.cls_map_pred.out_channels == 9 * 2
