"""The recipe configs carry the paper's hyper-parameters, number for number, and build their objects."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["data.root=/datasets/imagenet", *overrides])


def test_mae_lite_in1k_recipe() -> None:
    cfg = _compose("experiment=mae_lite_in1k")
    opt, sched, model = cfg.model.optimizer, cfg.model.scheduler, cfg.model.model
    assert (opt.name, opt.base_lr, opt.eps, opt.weight_decay) == ("adamw", 1.5e-4, 1e-8, 0.05)
    assert list(opt.betas) == [0.9, 0.95]
    assert (sched.warmup_epochs, sched.min_lr, sched.warmup_lr) == (40, 0.0, 0.0)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.data.input_size) == (400, 4096, 224)
    assert list(cfg.data.scale) == [0.08, 1.0]
    assert cfg.data.color_jitter is None
    assert (model.encoder_name, model.decoder_embed_dim, model.decoder_depth, model.decoder_num_heads) == (
        "vislite_vit_tiny", 96, 1, 3)
    assert model.norm_pix_loss is True
    assert cfg.model.mask_ratio == 0.75
    factory = instantiate(opt)
    assert factory.learning_rate(4096) == pytest.approx(2.4e-3)


def test_finetune_impr_recipe() -> None:
    cfg = _compose("experiment=finetune_in1k")
    opt, data, model = cfg.model.optimizer, cfg.data, cfg.model
    assert (opt.base_lr, opt.weight_decay, opt.layer_decay) == (1e-3, 0.05, 0.85)
    assert (cfg.model.scheduler.warmup_epochs, cfg.model.scheduler.min_lr) == (5, 1e-6)
    assert (data.auto_augment, data.color_jitter, data.re_prob, data.interpolation) == (
        "rand-m10-mstd0.5-inc1", 0.3, 0.0, "bicubic")
    assert (model.mixup.mixup_alpha, model.mixup.cutmix_alpha, model.label_smoothing) == (0.2, 0.0, 0.0)
    assert (model.model.drop_path_rate, model.model.global_pool) == (0.0, "avg")
    assert (cfg.trainer.max_epochs, data.batch_size) == (300, 1024)
    assert instantiate(opt).learning_rate(1024) == pytest.approx(4e-3)


def test_finetune_mae_100e_recipe() -> None:
    cfg = _compose("experiment=finetune_mae_in1k_100e")
    assert (cfg.data.auto_augment, cfg.data.color_jitter, cfg.data.re_prob) == ("rand-m9-mstd0.5-inc1", 0.4, 0.25)
    assert (cfg.model.mixup.mixup_alpha, cfg.model.mixup.cutmix_alpha, cfg.model.label_smoothing) == (0.8, 1.0, 0.1)
    assert (cfg.model.model.drop_path_rate, cfg.trainer.max_epochs, cfg.model.optimizer.layer_decay) == (0.1, 100, 0.85)


def test_finetune_mocov3_recipe_is_finetune_in1k_with_layer_decay_075() -> None:
    base, moco = _compose("experiment=finetune_in1k"), _compose("experiment=finetune_mocov3_in1k")
    assert moco.model.optimizer.layer_decay == 0.75 and base.model.optimizer.layer_decay == 0.85
    moco.model.optimizer.layer_decay = 0.85
    moco.task_name = base.task_name
    assert moco == base  # nothing else differs


def test_linprobe_recipe() -> None:
    cfg = _compose("experiment=linprobe_in1k", "model.model.encoder.init=/ckpt/last.ckpt")
    opt = cfg.model.optimizer
    assert (opt.name, opt.base_lr, opt.weight_decay, opt.momentum) == ("vislite_pretrain.lit.lars.LARS", 0.1, 0.0, 0.9)
    assert (cfg.model.scheduler.warmup_epochs, cfg.trainer.max_epochs, cfg.data.batch_size) == (10, 90, 16384)
    assert cfg.model.model.pool == "token"


def test_recipe_models_build_at_test_size() -> None:
    cfg = _compose("experiment=finetune_in1k", "data.input_size=32", "model.model.name=test_vislite_vit",
                   "data.num_classes=10")
    module = instantiate(cfg.model, _convert_="all")
    assert module.mixup.mixup_alpha == 0.2
    groups = module.optimizer_factory(module.model, global_batch_size=1024).param_groups
    assert len({round(g["lr_scale"], 6) for g in groups}) == 6  # test ViT: 4 blocks + embeddings + head
