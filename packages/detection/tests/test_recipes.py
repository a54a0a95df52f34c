"""The experiment configs carry NDet's recipe numbers (optimiser, schedule, input, test settings) and build."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from vislite_common.engine.compose import compose_config
from vislite_detection.lit import DetectionSGD, WarmupMultiStepSchedule
from vislite_detection.models import create_detector
from vislite_detection.models.l1_box_loss import L1RegionProposalNetwork, L1RoIHeads


def _compose(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config("vislite_detection.configs", list(overrides), output_dir=tmp_path)


def _check_1x(cfg: DictConfig) -> None:
    """The shared 1x COCO schedule and input: 12 epochs, x0.1 at 8 and 11, 800 x 1333 single scale + flip."""
    sched = cfg.model.scheduler
    assert (cfg.trainer.max_epochs, list(sched.milestones), sched.gamma) == (12, [8, 11], 0.1)
    assert (sched.warmup, sched.warmup_iters) == ("linear", 500)
    data = cfg.data
    assert (list(data.train_scales), data.max_size, data.test_scale, data.flip_prob) == ([800], 1333, 800, 0.5)
    assert data.batch_size == 8  # 4 images per GPU, as in NDet's configs


def test_fcos_r50_1x_recipe(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, "experiment=fcos_r50_fpn_1x_coco")
    _check_1x(cfg)
    opt, model = cfg.model.optimizer, cfg.model.model
    assert (opt.lr, opt.base_batch_size, opt.momentum, opt.weight_decay) == (0.005, 8, 0.9, 1e-4)
    assert (opt.bias_lr_mult, opt.bias_decay_mult) == (2.0, 0.0)
    assert cfg.model.scheduler.warmup_ratio == pytest.approx(1 / 3)
    assert (model.name, model.num_classes, model.trainable_layers) == ("fcos_resnet50_fpn", 81, 3)
    assert (model.score_thresh, model.nms_thresh, model.detections_per_img) == (0.05, 0.6, 100)
    assert cfg.data.train_ann == "annotations/instances_train2017.json" and cfg.model.corrector is None


def test_faster_rcnn_r50_1x_recipe(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, "experiment=faster_rcnn_r50_fpn_1x_coco")
    _check_1x(cfg)
    opt, model = cfg.model.optimizer, cfg.model.model
    assert (opt.lr, opt.momentum, opt.weight_decay) == (0.01, 0.9, 1e-4)
    assert "bias_lr_mult" not in opt
    assert cfg.model.scheduler.warmup_ratio == 0.001
    assert (model.name, model.box_score_thresh, model.box_nms_thresh, model.box_detections_per_img) == (
        "faster_rcnn_resnet50_fpn",
        0.05,
        0.5,
        100,
    )
    # mmdet 2.x RPN proposals: (training, testing) = 2000 / 1000 per level before NMS, 1000 / 1000 after
    assert (list(model.rpn_pre_nms_top_n), list(model.rpn_post_nms_top_n)) == ([2000, 1000], [1000, 1000])
    built = instantiate(cfg.model.model, num_classes=3)
    assert model.box_loss == "l1"  # mmdet 2.x: L1Loss in the RPN and the RoI head
    assert isinstance(built.rpn, L1RegionProposalNetwork) and isinstance(built.roi_heads, L1RoIHeads)
    assert (built.rpn._pre_nms_top_n, built.rpn._post_nms_top_n) == (
        {"training": 2000, "testing": 1000},
        {"training": 1000, "testing": 1000},
    )


@pytest.mark.parametrize("detector", ["fcos", "faster_rcnn"])
def test_noisy_and_corrected_recipes(detector: str, tmp_path: Path) -> None:
    noisy = _compose(tmp_path, f"experiment={detector}_r50_fpn_1x_coco_noisy01")
    assert noisy.data.train_ann == "annotations/instances_train2017_syn01.json"
    assert noisy.data.val_ann == "annotations/instances_val2017.json"  # evaluated on the clean boxes
    assert noisy.model.corrector is None
    corrected = _compose(
        tmp_path,
        f"experiment={detector}_r50_fpn_1x_coco_noisy01_corrected",
        "model.corrector.teacher.checkpoint=/t.ckpt",
    )
    _check_1x(corrected)
    assert corrected.data.train_ann == noisy.data.train_ann
    assert corrected.model.optimizer == noisy.model.optimizer and corrected.model.model == noisy.model.model
    fix = corrected.model.corrector
    assert (fix.iou_thr, fix.score_thr) == (0.7, 0.05)
    assert fix.teacher.detector == corrected.model.model  # the teacher has the student's architecture
    if detector == "faster_rcnn":
        assert (fix.proposal_iou, fix.proposals_per_box, fix.max_proposals) == (0.5, 100, 1000)


def test_corrected_recipe_needs_a_teacher_checkpoint(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, "experiment=fcos_r50_fpn_1x_coco_noisy01_corrected")
    with pytest.raises(MissingMandatoryValue, match="checkpoint"):
        instantiate(cfg.model.corrector.teacher)


@pytest.mark.parametrize("detector", ["fcos", "faster_rcnn"])
def test_vit_tiny_recipes(detector: str, tmp_path: Path) -> None:
    cfg = _compose(tmp_path, f"experiment={detector}_vit_tiny_1x_coco", "model.model.init=/w/mae_lite.ckpt")
    assert cfg.model.model.name == f"{detector}_vit_tiny_sfp"
    assert (list(cfg.data.train_scales), cfg.data.test_scale, cfg.data.batch_size) == ([640], 640, 64)
    opt = cfg.model.optimizer
    assert (opt.name, opt.base_lr, opt.base_batch_size, opt.weight_decay) == ("adamw", 1e-4, 64, 0.05)
    assert cfg.model.model.drop_path_rate == 0.0


def test_sgd_groups_and_schedule_numbers() -> None:
    model = create_detector("test_fcos")
    sgd = DetectionSGD(lr=0.005, weight_decay=1e-4, bias_lr_mult=2.0, bias_decay_mult=0.0, base_batch_size=8)
    opt = sgd(model, global_batch_size=16)  # linear scaling: 0.01 at 16 images
    weights, biases = opt.param_groups
    assert (weights["lr"], weights["weight_decay"]) == (pytest.approx(0.01), 1e-4)
    assert (biases["lr"], biases["weight_decay"]) == (pytest.approx(0.02), 0.0)
    n_bias = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".bias"))
    assert sum(p.numel() for p in biases["params"]) == n_bias
    schedule = WarmupMultiStepSchedule(milestones=(8, 11), warmup_iters=500, warmup_ratio=1 / 3)
    lambda_lr = schedule(opt, total_steps=1200, steps_per_epoch=100, peak_lr=0.01)
    factor = lambda_lr.lr_lambdas[0]
    assert [factor(s) for s in (0, 250, 500, 799, 800, 1100)] == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0, 0.1, 0.01])
    assert lambda_lr.get_last_lr()[0] == pytest.approx(0.01 / 3)


def test_demo_config_builds_its_objects(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, "experiment=demo_detection", f"paths.data_dir={tmp_path}")
    module = instantiate(cfg.model, _convert_="all")
    assert module.model.score_thresh == 0.05 and module.model.detections_per_img == 100
    assert isinstance(module.optimizer_factory, DetectionSGD)
    assert cfg.data.num_train == 160 and cfg.trainer.max_epochs == 12
