"""The recipes added from MAE-Lite's repository (RPE, ViT-Small, transfer) and the fine-tuning loading fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig

from vislite_pretrain.hiera_mae import export_encoder as export_hiera_encoder
from vislite_pretrain.hiera_mae import to_reference_keys
from vislite_pretrain.hiera_mae.model import mae_test_hiera
from vislite_pretrain.mae_lite.model import mae_test_vit
from vislite_pretrain.weights import build_hiera_classifier, build_vit_classifier

TRANSFER = {"cifar100": (100, 50, 10, 0.1), "flowers": (102, 300, 20, 0.03), "pets": (37, 300, 20, 0.03)}
TRANSFER |= {"aircraft": (100, 300, 20, 0.03), "cars": (196, 300, 20, 0.03)}


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["data.root=/datasets/imagenet", *overrides])


@pytest.fixture
def mae_file(tmp_path: Path) -> Path:
    """A pre-trained MAE-lite checkpoint (test size) as vislite's Lightning module saves it."""
    torch.manual_seed(0)
    mae = mae_test_vit()
    with torch.no_grad():
        for block in mae.encoder.blocks:
            block.attn.qkv.bias.normal_()
    path = tmp_path / "mae.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in mae.state_dict().items()}}, path)
    return path


def test_finetune_rpe_recipe_is_impr_with_rpe_for_1000_epochs(mae_file: Path) -> None:
    base, cfg = _compose("experiment=finetune_in1k"), _compose("experiment=finetune_rpe_in1k")
    assert (cfg.model.model.rel_pos_bias, cfg.model.model.qv_bias, cfg.trainer.max_epochs) == (True, True, 1000)
    assert cfg.model.optimizer == base.model.optimizer and cfg.data == base.data
    full = instantiate(cfg.model.model, num_classes=1000)
    assert sum(p.numel() for p in full.parameters()) == 5_820_520
    small = _compose(
        "experiment=finetune_rpe_in1k", "model.model.name=test_vislite_vit", "data.input_size=32",
        "data.num_classes=10", f"model.model.init={mae_file}",
    )  # fmt: skip
    module = instantiate(small.model, _convert_="all")
    attn = module.model.blocks[0].attn
    assert torch.count_nonzero(attn.relative_position_bias_table) == 0  # the pre-trained file has none
    assert torch.count_nonzero(attn.q_bias) == 0 and torch.count_nonzero(attn.v_bias) == 0  # MAE-Lite drops qkv.bias
    split = build_vit_classifier(
        "test_vislite_vit", num_classes=10, img_size=32, init=str(mae_file), rel_pos_bias=True, qkv_bias_init="split"
    )
    state = torch.load(mae_file, weights_only=True)["state_dict"]
    q, _, v = state["model.encoder.blocks.0.attn.qkv.bias"].chunk(3)
    assert torch.equal(split.blocks[0].attn.q_bias, q) and torch.equal(split.blocks[0].attn.v_bias, v)
    names = {id(p): n for n, p in module.model.named_parameters()}
    groups = module.optimizer_factory(module.model, global_batch_size=1024).param_groups
    decayed = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert "blocks.0.attn.relative_position_bias_table" in decayed  # 2-D, not in {pos_embed, cls_token}
    assert not {"pos_embed", "cls_token", "blocks.0.attn.q_bias"} & decayed


def test_vit_small_recipes() -> None:
    pre = _compose("experiment=mae_lite_small_in1k")
    assert (pre.model.model.encoder_name, pre.model.model.decoder_embed_dim, pre.model.model.decoder_num_heads) == (
        "vislite_vit_small", 192, 6)  # fmt: skip
    assert (pre.trainer.max_epochs, pre.data.batch_size, pre.model.optimizer.decay_rule) == (400, 4096, "timm_0412")
    mae = instantiate(pre.model.model)
    assert mae.encoder.embed_dim == 384 and mae.decoder_embed.out_features == 192
    ft = _compose("experiment=finetune_small_in1k")
    base = _compose("experiment=finetune_in1k")
    assert (ft.model.model.name, ft.model.optimizer.layer_decay) == ("vislite_vit_small", 0.75)
    assert (ft.data.re_prob, ft.model.label_smoothing, ft.data.color_jitter) == (0.0, 0.0, 0.3)
    assert ft.trainer.max_epochs == 300 and ft.data == base.data
    assert sum(p.numel() for p in instantiate(ft.model.model).parameters()) == 22_050_664


@pytest.mark.parametrize("dataset", sorted(TRANSFER))
def test_transfer_recipes(dataset: str, mae_file: Path) -> None:
    classes, epochs, warmup, lr = TRANSFER[dataset]
    cfg = _compose(f"experiment=finetune_transfer_{dataset}")
    opt = cfg.model.optimizer
    assert (opt.name, opt.lr, opt.base_lr, opt.momentum, opt.nesterov) == ("sgd", lr, None, 0.9, True)
    assert (opt.weight_decay, opt.layer_decay, cfg.trainer.gradient_clip_val) == (0.0, 0.75, 1.0)
    assert (cfg.data.num_classes, cfg.data.batch_size, cfg.trainer.max_epochs) == (classes, 512, epochs)
    assert cfg.model.scheduler.warmup_epochs == warmup and cfg.model.mixup is None
    assert (cfg.data.auto_augment, cfg.data.color_jitter, cfg.data.re_prob) == (None, None, 0.0)
    small = _compose(
        f"experiment=finetune_transfer_{dataset}", "model.model.name=test_vislite_vit", "data.input_size=32",
        f"model.model.init={mae_file}",
    )  # fmt: skip
    module = instantiate(small.model, _convert_="all")
    assert module.model.head.out_features == classes
    optimizer = module.optimizer_factory(module.model, global_batch_size=512)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"] is True
    assert all(g["weight_decay"] == 0.0 for g in optimizer.param_groups)


def test_hiera_fine_tune_starts_its_final_norm_fresh_from_a_pretraining_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mae = mae_test_hiera()
    with torch.no_grad():
        mae.encoder.head.norm.weight.uniform_(2.0, 3.0)
    pretraining = tmp_path / "hiera_mae.pth"
    torch.save({"model": {f"model.{k}": v for k, v in to_reference_keys(mae.state_dict()).items()}}, pretraining)
    model = build_hiera_classifier("test_vislite_hiera", num_classes=5, img_size=64, init=str(pretraining))
    assert torch.equal(model.head.norm.weight, torch.ones_like(model.head.norm.weight))  # encoder_norm not loaded
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, mae.encoder.blocks[0].attn.qkv.weight)
    kept = build_hiera_classifier(
        "test_vislite_hiera", num_classes=5, img_size=64, init=str(pretraining), load_final_norm=True
    )
    torch.testing.assert_close(kept.head.norm.weight, mae.encoder.head.norm.weight)
    encoder_only = tmp_path / "encoder.pth"  # an exported encoder (no MAE parts): its norm is the model's own
    export_hiera_encoder(mae, encoder_only)
    exported = build_hiera_classifier("test_vislite_hiera", num_classes=5, img_size=64, init=str(encoder_only))
    torch.testing.assert_close(exported.head.norm.weight, mae.encoder.head.norm.weight)


def test_linear_probe_crops_once_and_fine_tuning_erases_with_pixel_noise(tmp_path: Path) -> None:
    from timm.data.random_erasing import RandomErasing

    from vislite_common.data.single_draw_crop import SingleDrawResizedCrop

    probe = _compose("experiment=linprobe_in1k", f"data.root={tmp_path}", "model.model.encoder.init=/x.ckpt")
    assert probe.data.crop == "single_draw"
    data = instantiate(probe.data)
    assert isinstance(data.train_transform.transform.transforms[0], SingleDrawResizedCrop)
    ft = instantiate(_compose("experiment=finetune_mae_in1k_100e", f"data.root={tmp_path}").data)
    erasing = [t for t in ft.train_transform.transform.transforms if isinstance(t, RandomErasing)]
    assert len(erasing) == 1 and erasing[0].mode == "pixel" and erasing[0].probability == 0.25
