"""mmseg MAE's relative position bias in the ADE20K backbone, FT-RPE checkpoints, mmseg's decay rule, recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from hydra.utils import instantiate

from vislite_common.backbones import create_backbone
from vislite_common.engine.compose import compose_config
from vislite_segmentation.models.backbone import build_vit_backbone

INDICES = [3, 5, 7, 11]


def ft_rpe_checkpoint(path: Path, *, qv_bias: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    """An impr.+RPE fine-tuned classifier saved as MAE-Lite saves it (``module.model.`` keys, index buffers)."""
    torch.manual_seed(seed)
    model = timm.create_model("vislite_vit_tiny", rel_pos_bias=True, qv_bias=qv_bias, num_classes=1000)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("bias_table", "q_bias", "v_bias", "qkv.bias")):
                param.normal_(std=0.3)
    state = model.state_dict()
    torch.save({"model": {f"module.model.{k}": v for k, v in state.items()}, "optimizer": {}}, path)
    return state


def test_backbone_has_zero_initialised_trainable_tables_over_the_crop_grid() -> None:
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=512, rel_pos_bias=True, init_values=1.0)
    attn = backbone.vit.blocks[0].attn
    assert attn.relative_position_bias_table.shape == ((2 * 32 - 1) ** 2 + 3, 12)  # 3972 x 12
    assert attn.relative_position_bias_table.requires_grad
    assert all(torch.count_nonzero(b.attn.relative_position_bias_table) == 0 for b in backbone.vit.blocks)
    assert attn.qkv.bias is not None and attn.q_bias is None  # mmseg MAE: plain qkv bias
    feats = backbone(torch.randn(1, 3, 64, 96))  # any grid inside the 32x32 window
    assert [tuple(f.shape) for f in feats] == [(1, 192, 4, 6)] * 4
    feats[-1].sum().backward()
    assert attn.relative_position_bias_table.grad is not None


def test_ft_rpe_checkpoint_loads_with_the_same_features(tmp_path: Path) -> None:
    path = tmp_path / "deit_tiny_rpe_1000e.pth.tar"
    state = ft_rpe_checkpoint(path)
    classifier = create_backbone("vislite_vit_tiny", pretrained=path, rel_pos_bias=True, num_classes=1000).eval()
    backbone = build_vit_backbone(
        "vislite_vit_tiny", img_size=224, rel_pos_bias=True, init_values=1.0, drop_path_rate=0.0, init=path
    ).eval()
    attn = backbone.vit.blocks[2].attn
    q, v = state["blocks.2.attn.q_bias"], state["blocks.2.attn.v_bias"]
    assert torch.equal(attn.qkv.bias, torch.cat([q, torch.zeros_like(q), v]))
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours = backbone(images)
        reference = classifier.forward_intermediates(images, indices=INDICES, intermediates_only=True)
    for a, b in zip(ours, reference):
        assert torch.allclose(a, b, atol=1e-5)


def test_ft_rpe_tables_resize_to_512_and_mmseg_drop_mode(tmp_path: Path) -> None:
    path = tmp_path / "ft_rpe.pth.tar"
    state = ft_rpe_checkpoint(path, seed=1)
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=512, rel_pos_bias=True, init_values=1.0, init=path)
    table = backbone.vit.blocks[0].attn.relative_position_bias_table
    source = state["blocks.0.attn.relative_position_bias_table"]
    assert table.shape == (3972, 12)
    assert torch.equal(table[-3:], source[-3:])  # class-token rows kept
    assert torch.allclose(table[31 * 63 + 31], source[13 * 27 + 13], atol=1e-5)  # offset (0, 0)
    assert backbone.vit.pos_embed.shape == (1, 1025, 192)
    dropped = build_vit_backbone(
        "vislite_vit_tiny", img_size=512, rel_pos_bias=True, init_values=1.0, init=path, checkpoint_qv_bias="drop"
    )
    assert torch.count_nonzero(dropped.vit.blocks[0].attn.qkv.bias) == 0
    assert torch.equal(dropped.vit.blocks[0].attn.relative_position_bias_table, table)


def test_plain_qkv_bias_release_and_pretrained_checkpoints_load(tmp_path: Path) -> None:
    distilled = tmp_path / "mae_tiny_distill_d2_400e_ft_rpe_1000e.pth.tar"
    state = ft_rpe_checkpoint(distilled, qv_bias=False, seed=2)
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=512, rel_pos_bias=True, init=distilled)
    assert torch.equal(backbone.vit.blocks[1].attn.qkv.bias, state["blocks.1.attn.qkv.bias"])
    pretrained = tmp_path / "deit_tiny_300e.pth"  # no tables: they stay at zero
    torch.save({"model": timm.create_model("vislite_vit_tiny", num_classes=1000).state_dict()}, pretrained)
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=512, rel_pos_bias=True, init=pretrained)
    assert torch.count_nonzero(backbone.vit.blocks[0].attn.relative_position_bias_table) == 0


def _recipe(tmp_path: Path, name: str, *overrides: str):
    return compose_config(
        "vislite_segmentation.configs",
        [f"experiment={name}", f"paths.data_dir={tmp_path}", *overrides],
        output_dir=tmp_path,
    )


def test_recipe_decays_as_mmseg(tmp_path: Path) -> None:
    cfg = _recipe(tmp_path, "semfpn_vit_tiny_ade20k", "data.crop_size=64")
    assert cfg.model.optimizer.decay_rule == "mmseg" and cfg.model.model.backbone.rel_pos_bias is True
    module = instantiate(cfg.model, _convert_="all")
    names = {id(p): n for n, p in module.model.named_parameters()}
    optimizer = module.optimizer_factory(module.model, global_batch_size=16)
    decayed = {names[id(p)] for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    expected = {n for n in trainable if module.model.get_parameter(n).ndim > 1 and not n.endswith(".bias")}
    assert decayed == expected
    vit = "backbone.vit."
    assert {f"{vit}pos_embed", f"{vit}cls_token", f"{vit}blocks.0.attn.relative_position_bias_table"} <= decayed
    assert not any(".ls1." in n or ".ls2." in n for n in decayed)  # layer-scale gammas are 1-D


def test_rpe_recipe_composes_and_builds_from_a_ft_rpe_file(tmp_path: Path) -> None:
    path = tmp_path / "ft_rpe.pth.tar"
    ft_rpe_checkpoint(path, seed=3)
    cfg = _recipe(tmp_path, "semfpn_vit_tiny_rpe_ade20k", f"model.model.backbone.init={path}", "data.crop_size=64")
    base = _recipe(tmp_path, "semfpn_vit_tiny_ade20k", "data.crop_size=64")
    assert cfg.model.optimizer == base.model.optimizer and cfg.trainer.max_steps == 160000
    module = instantiate(cfg.model, _convert_="all")
    table = module.segmentor.backbone.vit.blocks[0].attn.relative_position_bias_table
    assert table.shape == ((2 * 4 - 1) ** 2 + 3, 12) and torch.count_nonzero(table) > 0  # 14x14 -> 4x4 window
    with pytest.raises(Exception, match="backbone.init"):  # Hydra wraps the builder's ValueError
        instantiate(_recipe(tmp_path, "semfpn_vit_tiny_rpe_ade20k").model, _convert_="all")
