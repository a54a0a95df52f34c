"""The recipe configs carry the reference's numbers (OSTrack-256 ViT-Tiny CE) and build their objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig

from vislite_tracking.ostrack.lit import StepDecay


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_tracking.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["paths.data_dir=/datasets", *overrides])


def test_vit_tiny_ce_lasot_recipe() -> None:
    cfg = _compose("experiment=vit_tiny_ce_lasot")
    net, opt, data = cfg.model.model, cfg.model.optimizer, cfg.data
    assert (net.backbone, net.drop_path_rate, net.head_channels) == ("vislite_vit_tiny", 0.1, 256)
    assert (list(net.ce_loc), list(net.ce_keep_ratio)) == ([3, 6, 9], [0.7, 0.7, 0.7])
    assert (opt.lr, opt.weight_decay, opt.backbone_lr_scale) == (4e-4, 1e-4, 0.1)
    assert (cfg.model.scheduler.drop_epoch, cfg.model.scheduler.gamma, cfg.trainer.max_epochs) == (240, 0.1, 300)
    assert (cfg.trainer.gradient_clip_val, cfg.trainer.gradient_clip_algorithm, cfg.trainer.precision) == (
        0.1,
        "norm",
        32,
    )
    assert (cfg.model.loss.giou_weight, cfg.model.loss.l1_weight, cfg.model.loss.focal_weight) == (2.0, 5.0, 1.0)
    assert (data.batch_size, data.samples_per_epoch, data.val_samples, data.max_gap) == (128, 60000, 10000, 200)
    assert (data.template_size, data.template_factor, data.search_size, data.search_factor) == (128, 2.0, 256, 4.0)
    assert (data.centre_jitter, data.scale_jitter) == (3.0, 0.25)
    assert (data.grayscale_prob, data.flip_prob, data.brightness) == (0.05, 0.5, 0.2)
    assert [s.dataset for s in data.train_sources] == ["lasot", "got10k", "coco", "trackingnet"]  # 1:1:1:1
    assert [s.weight for s in data.train_sources] == [1, 1, 1, 1]
    assert [s.split for s in data.train_sources] == ["train", "vottrain", "train", "train"]
    assert data.train_sources[3].root == "/datasets/trackingnet"
    assert [(s.dataset, s.split) for s in data.val_sources] == [("got10k", "votval")]
    keep = instantiate(cfg.model.keep_rate)
    assert [keep(e) for e in (1, 19, 20, 100, 300)] == [1.0, 1.0, 1.0, 0.7, 0.7]
    assert keep(60) == pytest.approx(0.85)
    decay = instantiate(cfg.model.scheduler)
    assert (decay.factor(239), decay.factor(240)) == (1.0, pytest.approx(0.1))


def test_recipe_data_names_a_missing_root(tmp_path: Path) -> None:
    cfg = _compose("experiment=vit_tiny_ce_lasot", f"paths.data_dir={tmp_path}")
    (tmp_path / "lasot").mkdir()  # present but empty: the LaSOT reader's own error
    data = instantiate(cfg.data)
    with pytest.raises(FileNotFoundError, match="lasot_train_split.txt|training_set.txt|testing_set.txt"):
        data.setup("fit")
    (tmp_path / "lasot").rmdir()
    with pytest.raises(FileNotFoundError, match=r"train_sources\[0\]: lasot root .*/lasot is not a directory"):
        instantiate(cfg.data).setup("fit")


def test_optimizer_groups_and_model_from_the_recipe() -> None:
    cfg = _compose("experiment=vit_tiny_ce_lasot")
    model = instantiate(cfg.model.model)
    assert model.template_size == 128 and model.search_size == 256 and model.feat_size == 16
    optimizer = instantiate(cfg.model.optimizer)(model)
    assert isinstance(optimizer, torch.optim.AdamW)
    head, backbone = optimizer.param_groups
    assert (head["lr"], backbone["lr"]) == (4e-4, pytest.approx(4e-5))
    assert head["weight_decay"] == backbone["weight_decay"] == 1e-4
    assert sum(p.numel() for p in backbone["params"]) == sum(p.numel() for p in model.backbone.parameters())


def test_got10k_only_protocol() -> None:
    cfg = _compose("experiment=vit_tiny_ce_got10k")
    assert (cfg.trainer.max_epochs, cfg.model.scheduler.drop_epoch) == (100, 80)
    assert (cfg.model.keep_rate.start, cfg.model.keep_rate.warm) == (20, 50)
    assert [(s.dataset, s.split) for s in cfg.data.train_sources] == [("got10k", "train_full")]
    assert (cfg.data.batch_size, cfg.data.samples_per_epoch, cfg.model.optimizer.lr) == (128, 60000, 4e-4)
    assert instantiate(cfg.model.keep_rate)(70) == 0.7


def test_step_decay_multiplies_per_epoch() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = StepDecay(drop_epoch=2, gamma=0.1)(optimizer, steps_per_epoch=3)
    lrs = []
    for _ in range(7):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1, 1, 1, 1, 1, 1, 0.1])


def test_demo_config_builds() -> None:
    cfg = _compose("experiment=demo_tracking")
    model = instantiate(cfg.model.model)
    assert (model.template_size, model.search_size, model.feat_size, model.backbone.embed_dim) == (32, 64, 8, 64)
    assert cfg.data.stride == 8
