"""NDet's recipes under mmdetection 2.8: the gamma = 0.05 and COCO-subset experiments, mmdet FCOS by default,
fusion rules, the student's normaliser and the printed linear-scaling rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from vislite_common.engine.compose import compose_config
from vislite_detection.fcos_mmdet.detector import MMDetFCOS
from vislite_detection.lit import DetectionSGD
from vislite_detection.models import create_detector
from vislite_detection.ndet import FCOSBoxCorrector, with_box_correction

TRAIN_ANNS = {
    "coco": "annotations/instances_train2017.json",
    "coco_noisy01": "annotations/instances_train2017_syn01.json",
    "coco_noisy005": "annotations/instances_train2017_syn005.json",
    "cocosubset": "annotations/instances_train2017_subset.json",
    "cocosubset_realworld": "annotations/instances_train2017_real-world_subset.json",
}


def _compose(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config("vislite_detection.configs", list(overrides), output_dir=tmp_path)


@pytest.mark.parametrize("detector", ["fcos", "faster_rcnn"])
@pytest.mark.parametrize("variant", list(TRAIN_ANNS))
def test_ndet_experiments_run_as_mmdetection_did(detector: str, variant: str, tmp_path: Path) -> None:
    cfg = _compose(tmp_path, f"experiment={detector}_r50_fpn_1x_{variant}")
    assert cfg.data.train_ann == TRAIN_ANNS[variant]
    assert cfg.data.val_ann == "annotations/instances_val2017.json"
    assert (cfg.data.batch_size, cfg.model.optimizer.base_batch_size) == (8, 8)
    assert cfg.data.clip_border and cfg.data.filter_empty_gt
    assert cfg.model.corrector is None
    if detector == "fcos":
        assert (cfg.model.model.head, cfg.model.model.style) == ("mmdet", "caffe")
    else:
        assert (cfg.model.model.roi_align, cfg.model.model.norm_eval) == ("mmcv", True)
    if variant in ("coco_noisy01", "coco_noisy005", "cocosubset_realworld"):
        corrected = _compose(
            tmp_path, f"experiment={detector}_r50_fpn_1x_{variant}_corrected", "model.corrector.teacher.checkpoint=/t"
        )
        assert corrected.model.model == cfg.model.model and corrected.data == cfg.data
        fix = corrected.model.corrector
        assert (fix.iou_thr, fix.score_thr, fix.fusion.rule, fix.fusion.ratio) == (0.7, 0.05, "step", 1.0)
        if detector == "fcos":
            assert fix.student_cls_normalizer == "num_pos"
        else:
            assert fix.fill_quota and not fix.clip_proposals


def test_exp_fusion_experiment(tmp_path: Path) -> None:
    cfg = _compose(
        tmp_path, "experiment=fcos_r50_fpn_1x_coco_noisy01_corrected_exp", "model.corrector.teacher.checkpoint=/t"
    )
    fix = cfg.model.corrector
    assert (fix.iou_thr, fix.fusion.rule, fix.fusion.sigma) == (0.01, "exp", 0.025)
    assert cfg.data.train_ann == TRAIN_ANNS["coco_noisy01"] and fix.student_cls_normalizer == "num_pos"


@pytest.mark.parametrize(
    ("experiment", "head"),
    [
        ("fcos_r50_fpn_1x_coco", "mmdet"),  # torchvision's R-50 FCOS: test_recipes.py
        ("fcos_vit_tiny_1x_coco", "torchvision"),
        ("fcos_vit_tiny_1x_coco", "mmdet"),
        ("demo_detection", "torchvision"),
        ("demo_detection", "mmdet"),
    ],
)
def test_every_fcos_recipe_selects_either_head(experiment: str, head: str, tmp_path: Path) -> None:
    overrides = [f"experiment={experiment}", f"model.model.head={head}", f"paths.data_dir={tmp_path}"]
    if experiment == "fcos_r50_fpn_1x_coco":
        overrides.append("model.model.style=pytorch")
    cfg = _compose(tmp_path, *overrides)
    model = instantiate(cfg.model.model, num_classes=3)
    assert isinstance(model, MMDetFCOS) == (head == "mmdet")


def test_the_student_takes_ndet_s_normaliser_from_the_corrector() -> None:
    teacher = create_detector("test_fcos", head="mmdet")
    corrector = FCOSBoxCorrector(teacher=teacher, student_cls_normalizer="num_pos")
    student = with_box_correction(detector=create_detector("test_fcos", head="mmdet"), corrector=corrector)
    assert student.cls_normalizer == "num_pos"
    with pytest.raises(ValueError, match="head=mmdet"):
        with_box_correction(detector=create_detector("test_fcos"), corrector=corrector)


def test_the_linear_scaling_rule_is_printed_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[str] = []
    monkeypatch.setattr("vislite_detection.lit.optim.rank_zero_info", printed.append)
    optimizer = DetectionSGD(lr=0.005, base_batch_size=8)(torch.nn.Linear(2, 2), global_batch_size=16)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    assert len(printed) == 1 and "global batch 16 images" in printed[0]
    assert "lr = 0.005 x 16 / 8 = 0.01" in printed[0]
