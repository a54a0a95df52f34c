"""The shipped configs: the MAE-Lite ADE20K recipe's numbers (reference section 1.3), package data, schedules."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from vislite_common.engine.compose import compose_config
from vislite_segmentation.lit.schedule import WarmupPolySchedule, warmup_poly_factor


def test_configs_ship_as_package_data() -> None:
    root = files("vislite_segmentation.configs")
    for name in (
        "train.yaml",
        "data/ade20k.yaml",
        "data/world_ade20k.yaml",
        "model/semfpn.yaml",
        "model/upernet.yaml",
        "experiment/semfpn_vit_tiny_ade20k.yaml",
        "experiment/demo_segmentation.yaml",
    ):
        assert (root / name).is_file(), name


def test_semfpn_vit_tiny_ade20k_recipe_numbers(tmp_path: Path) -> None:
    cfg = compose_config(
        "vislite_segmentation.configs",
        ["experiment=semfpn_vit_tiny_ade20k", f"paths.data_dir={tmp_path}"],
        output_dir=tmp_path,
    )
    data, model, trainer = cfg.data, cfg.model, cfg.trainer
    assert (data.crop_size, data.batch_size, data.num_classes, data.reduce_zero_label) == (512, 16, 150, True)
    assert list(data.scale) == [2048, 512] and list(data.ratio_range) == [0.5, 2.0]
    assert (data.cat_max_ratio, data.flip_prob, data.photometric) == (0.75, 0.5, True)
    assert (trainer.max_steps, cfg.seed) == (160000, 0)
    backbone = model.model.backbone
    assert (backbone.name, backbone.img_size, list(backbone.indices)) == ("vislite_vit_tiny", 512, [3, 5, 7, 11])
    assert (backbone.drop_path_rate, backbone.init_values) == (0.1, 1.0)
    assert model.model.neck_channels == 48
    head = model.model.decode_head
    assert (head.channels, head.dropout) == (128, 0.1)
    opt = model.optimizer
    assert (opt.name, opt.lr, list(opt.betas), opt.weight_decay, opt.layer_decay) == (
        "adamw", 1e-4, [0.9, 0.999], 0.05, 0.8,
    )  # fmt: skip
    sched = model.scheduler
    assert (sched.warmup_iters, sched.warmup_ratio, sched.power, sched.min_lr) == (1500, 1e-6, 1.0, 0.0)
    assert (model.inference.mode, model.inference.crop, model.inference.stride) == ("slide", 512, 341)
    assert cfg.optimized_metric == "val/mIoU"


def test_recipe_instantiates_and_schedules_per_iteration(tmp_path: Path) -> None:
    cfg = compose_config(
        "vislite_segmentation.configs",
        ["experiment=semfpn_vit_tiny_ade20k", f"paths.data_dir={tmp_path}"],
        output_dir=tmp_path,
    )
    module = instantiate(cfg.model, _convert_="all")
    assert module.segmentor.backbone.vit.pos_embed.shape == (1, 1025, 192)  # 32 x 32 grid + cls at 512 px
    neck, head = module.segmentor.neck, module.segmentor.decode_head
    assert (neck.branches[0][0].in_channels, neck.out_channels) == (192, 48)
    assert [tower[0][0].in_channels for tower in head.towers] == [48] * 4
    optimizer = module.optimizer_factory(module.model, global_batch_size=16)
    scheduler = instantiate(cfg.model.scheduler)(optimizer, total_steps=160000, steps_per_epoch=1263, peak_lr=1e-4)
    head_group = max(range(len(optimizer.param_groups)), key=lambda i: optimizer.param_groups[i]["lr"])
    lrs = []
    for _ in range(1501):
        lrs.append(optimizer.param_groups[head_group]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1e-10)  # 1e-6 x 1e-4
    assert lrs[750] == pytest.approx(0.5e-4, rel=1e-3)
    assert lrs[1500] == pytest.approx(1e-4)


def test_warmup_then_linear_decay_to_zero() -> None:
    kw = dict(total_steps=160000, warmup_steps=1500, warmup_ratio=1e-6, power=1.0)
    assert warmup_poly_factor(0, **kw) == pytest.approx(1e-6)
    assert warmup_poly_factor(1500, **kw) == pytest.approx(1.0)
    assert warmup_poly_factor(1500 + (160000 - 1500) // 2, **kw) == pytest.approx(0.5, abs=1e-5)
    assert warmup_poly_factor(160000, **kw) == 0.0
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    short = WarmupPolySchedule(warmup_iters=10)(optimizer, total_steps=4, steps_per_epoch=4, peak_lr=1.0)
    assert short.get_last_lr()[0] == pytest.approx(1e-6)  # a run shorter than the warm-up warms up over it all
    with pytest.raises(ValueError, match="warmup_iters must be >= 0"):
        WarmupPolySchedule(warmup_iters=-1)


def test_upernet_option_composes(tmp_path: Path) -> None:
    cfg = compose_config(
        "vislite_segmentation.configs",
        ["experiment=semfpn_vit_tiny_ade20k", "model=upernet", f"paths.data_dir={tmp_path}"],
        output_dir=tmp_path,
    )
    assert cfg.model.model.decode_head._target_.endswith("UPerHead")
    assert cfg.model.model.aux_weight == 0.4 and cfg.model.model.auxiliary_head.in_index == 2
