"""Each recipe decays exactly the parameters the official code decays.

Pre-training (MAE-Lite): timm 0.4.12's ``create_optimizer`` on a wrapper without ``no_weight_decay``, so only
1-D parameters and ``.bias`` skip decay (class / mask tokens and learned position tables are decayed).
Fine-tuning (MAE-Lite ``util/lr_decay.py``): 1-D, ``.bias`` and the ViT's ``{pos_embed, cls_token}``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from vislite_common.lit.optim import OptimizerFactory
from vislite_pretrain.distill.model import DistilledMAE
from vislite_pretrain.distill.teacher import load_teacher
from vislite_pretrain.hiera_mae import to_reference_keys
from vislite_pretrain.hiera_mae.distill import HieraMAEDistill, build_hiera_teacher
from vislite_pretrain.hiera_mae.model import mae_test_hiera


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["data.root=/datasets/imagenet", *overrides])


def decayed(factory: OptimizerFactory, model: nn.Module) -> set[str]:
    """Names of the trainable parameters that the factory's optimizer decays."""
    names = {id(p): n for n, p in model.named_parameters()}
    optimizer = factory(model, global_batch_size=256)
    return {names[id(p)] for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}


def timm_0412_decayed(model: nn.Module) -> set[str]:
    """timm 0.4.12 ``add_weight_decay`` with an empty skip list, written out."""
    return {n for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1 and not n.endswith(".bias")}


def test_mae_lite_recipe_decays_cls_and_mask_tokens() -> None:
    cfg = _compose("experiment=mae_lite_in1k")
    assert cfg.model.optimizer.decay_rule == "timm_0412"
    model = instantiate(cfg.model.model)
    got = decayed(instantiate(cfg.model.optimizer), model)
    assert got == timm_0412_decayed(model)
    assert {"encoder.cls_token", "mask_token", "encoder.patch_embed.proj.weight", "decoder_pred.weight"} <= got
    assert "encoder.pos_embed" not in got and "decoder_pos_embed" not in got  # fixed sin-cos tables: not trained
    assert not any(n.endswith(".bias") or "norm" in n for n in got)


@pytest.mark.parametrize("recipe", ["dmae_in1k", "d2mae_in1k"])
def test_distillation_recipes_decay_tokens_and_adapter(tmp_path: Path, recipe: str) -> None:
    cfg = _compose(f"experiment={recipe}")
    assert cfg.model.optimizer.decay_rule == "timm_0412"
    path = tmp_path / "teacher.pth"
    torch.save(
        timm.create_model("vislite_vit_tiny", num_classes=0, global_pool="token", fc_norm=False).state_dict(), path
    )
    teacher = load_teacher(path, name="vislite_vit_tiny", img_size=224)
    model = DistilledMAE(student=instantiate(cfg.model.model.student), teacher=teacher)
    got = decayed(instantiate(cfg.model.optimizer), model)
    assert got == timm_0412_decayed(model)
    assert {"student.encoder.cls_token", "student.mask_token", "adapter.weight"} <= got
    assert not any(n.startswith("teacher.") for n in got)  # frozen


def test_hiera_mae_recipe_decays_position_tables_and_mask_token() -> None:
    cfg = _compose("experiment=hiera_mae_in1k")
    assert cfg.model.optimizer.decay_rule == "timm_0412"
    model = instantiate(cfg.model.model)
    got = decayed(instantiate(cfg.model.optimizer), model)
    assert got == timm_0412_decayed(model)
    assert {"encoder.pos_embed", "mask_token", "decoder_pos_embed"} <= got
    assert model.encoder.pos_embed.shape == (1, 3136, 46)


def test_hiera_mae_distill_recipe_decays_tables_and_adapter(tmp_path: Path) -> None:
    cfg = _compose("experiment=hiera_mae_distill_in1k", "model.model.teacher.path=/unused")
    assert cfg.model.optimizer.decay_rule == "timm_0412"
    path = tmp_path / "mae_hiera_teacher.pth"
    torch.save({"model_state": to_reference_keys(mae_test_hiera(embed_dim=16, num_heads=2).state_dict())}, path)
    teacher = build_hiera_teacher(path, name="test_vislite_hiera", img_size=64, embed_dim=16, num_heads=2)
    model = HieraMAEDistill(student=mae_test_hiera(), teacher=teacher)
    got = decayed(instantiate(cfg.model.optimizer), model)
    assert got == timm_0412_decayed(model)
    assert {"student.encoder.pos_embed", "student.mask_token", "student.decoder_pos_embed", "adapter.weight"} <= got
    assert not any(n.startswith("teacher.") for n in got)


def test_finetune_recipe_keeps_the_official_skip_list() -> None:
    cfg = _compose("experiment=finetune_in1k", "data.num_classes=10")
    assert cfg.model.optimizer.get("decay_rule", "names") == "names"
    model = instantiate(cfg.model.model)
    got = decayed(instantiate(cfg.model.optimizer), model)
    skip = {"pos_embed", "cls_token"}
    expected = {n for n, p in model.named_parameters() if p.ndim > 1 and not n.endswith(".bias") and n not in skip}
    assert got == expected and "head.weight" in got


def test_rules_differ_only_where_the_official_codes_differ() -> None:
    model = timm.create_model("test_vislite_vit", num_classes=3)
    names = decayed(OptimizerFactory(lr=0.1, decay_rule="names"), model)
    timm_0412 = decayed(OptimizerFactory(lr=0.1, decay_rule="timm_0412"), model)
    mmseg = decayed(OptimizerFactory(lr=0.1, decay_rule="mmseg"), model)
    assert timm_0412 - names == {"pos_embed", "cls_token"}
    assert mmseg == names  # un-prefixed names do match on a bare ViT
    wrapped = nn.ModuleDict({"backbone": model})
    assert decayed(OptimizerFactory(lr=0.1, decay_rule="mmseg"), wrapped) >= {
        "backbone.pos_embed",
        "backbone.cls_token",
    }
    everything = decayed(OptimizerFactory(lr=0.1, decay_rule="all"), model)
    assert everything == {n for n, _ in model.named_parameters()}
    with pytest.raises(ValueError, match="decay_rule"):
        OptimizerFactory(lr=0.1, decay_rule="timm")
