"""Backbones load from files written here: an exported MAE-lite encoder (timm state dict), a released MAE-Lite
checkpoint, vislite Lightning checkpoints (pre-training MAE, segmentation), with the position table resized."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from vislite_common.checkpoint import CheckpointError, export_backbone
from vislite_segmentation.models import build_vit_backbone
from vislite_segmentation.models.weights import encoder_state


@pytest.fixture(scope="module")
def encoder() -> torch.nn.Module:
    """An MAE-lite-style encoder: test ViT at 32 px with its final norm and no classifier."""
    torch.manual_seed(0)
    return timm.create_model("test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False).eval()


def _decoder_entries() -> dict[str, torch.Tensor]:
    return {"mask_token": torch.zeros(1, 1, 16), "decoder_embed.weight": torch.zeros(16, 32)}


def _write(kind: str, encoder: torch.nn.Module, path: Path) -> Path:
    state = encoder.state_dict()
    if kind == "timm":  # what vislite-pretrain's export_encoder writes
        export_backbone(encoder, path)
    elif kind == "released":  # MAE-Lite release: {"model": {"model.<encoder key>", "model.decoder_*", ...}}
        full = {**state, **_decoder_entries()}
        torch.save({"model": {f"model.{k}": v for k, v in full.items()}, "epoch": 400}, path)
    elif kind == "lightning_mae":  # vislite MAE-lite pre-training: state_dict with model.encoder.* and decoder
        full = {**{f"encoder.{k}": v for k, v in state.items()}, **_decoder_entries()}
        torch.save({"state_dict": {f"model.{k}": v for k, v in full.items()}, "epoch": 3}, path)
    elif kind == "lightning_finetune":  # a fine-tuned classifier: model.* with fc_norm and head
        extra = {"fc_norm.weight": torch.ones(32), "head.weight": torch.zeros(8, 32), "head.bias": torch.zeros(8)}
        torch.save({"state_dict": {f"model.{k}": v for k, v in {**state, **extra}.items()}}, path)
    elif kind == "lightning_mocov3":  # vislite MoCo-v3: model.base_encoder.* beside the momentum twin and heads
        full = {**{f"base_encoder.{k}": v for k, v in state.items()}, "predictor.0.weight": torch.zeros(4, 4)}
        full.update({f"momentum_encoder.{k}": torch.zeros_like(v) for k, v in state.items()})
        torch.save({"state_dict": {f"model.{k}": v for k, v in full.items()}}, path)
    elif kind == "lightning_d2mae":  # vislite D²-MAE: model.student.encoder.* with a trailing attention-probe block
        probe = {"blocks.4.norm1.weight": torch.ones(32), "blocks.4.norm1.bias": torch.zeros(32)}
        probe.update({"blocks.4.attn.qkv.weight": torch.zeros(96, 32), "blocks.4.attn.qkv.bias": torch.zeros(96)})
        full = {f"student.encoder.{k}": v for k, v in {**state, **probe}.items()}
        full["teacher.encoder.cls_token"] = torch.zeros(1, 1, 32)
        torch.save({"state_dict": {f"model.{k}": v for k, v in full.items()}}, path)
    return path


@pytest.mark.parametrize(
    "kind", ["timm", "released", "lightning_mae", "lightning_finetune", "lightning_mocov3", "lightning_d2mae"]
)
def test_backbone_loads_each_layout_with_resized_positions(encoder, tmp_path: Path, kind: str) -> None:
    path = _write(kind, encoder, tmp_path / f"{kind}.pth")
    backbone = build_vit_backbone("test_vislite_vit", img_size=64, indices=(0, 1, 2, 3), init=str(path))
    torch.testing.assert_close(backbone.vit.blocks[2].mlp.fc1.weight, encoder.blocks[2].mlp.fc1.weight)
    torch.testing.assert_close(backbone.vit.patch_embed.proj.weight, encoder.patch_embed.proj.weight)
    assert backbone.vit.pos_embed.shape == (1, 65, 32)  # 4x4 grid + cls resized to 8x8 + cls
    torch.testing.assert_close(backbone.vit.cls_token, encoder.cls_token)


def test_same_resolution_reproduces_the_encoder_blocks(encoder, tmp_path: Path) -> None:
    path = _write("timm", encoder, tmp_path / "encoder.pth")
    backbone = build_vit_backbone("test_vislite_vit", img_size=32, indices=(0, 1, 2, 3), init=str(path)).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = encoder.forward_intermediates(images, indices=[3], intermediates_only=True)[0]
        torch.testing.assert_close(backbone(images)[3], expected)


def test_layer_scale_stays_at_its_initial_value(encoder, tmp_path: Path) -> None:
    path = _write("released", encoder, tmp_path / "released.pth")
    backbone = build_vit_backbone("test_vislite_vit", img_size=32, indices=(0, 1, 2, 3), init_values=1.0, init=path)
    assert torch.equal(backbone.vit.blocks[1].ls1.gamma, torch.ones(32))
    torch.testing.assert_close(backbone.vit.blocks[1].attn.qkv.weight, encoder.blocks[1].attn.qkv.weight)


def test_segmentation_checkpoint_gives_back_its_backbone(segmentor, tmp_path: Path) -> None:
    path = tmp_path / "seg.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in segmentor.state_dict().items()}}, path)
    backbone = build_vit_backbone("test_vislite_vit", img_size=32, indices=(0, 1, 2, 3), init=path)
    torch.testing.assert_close(
        backbone.vit.blocks[3].attn.proj.weight, segmentor.backbone.vit.blocks[3].attn.proj.weight
    )


def test_encoder_state_drops_decoders_and_heads() -> None:
    state = {"encoder.blocks.0.x": torch.zeros(1), "decoder_embed.weight": torch.zeros(1), "mask_token": torch.zeros(1)}
    assert list(encoder_state(state)) == ["blocks.0.x"]


def test_wrong_or_missing_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_vit_backbone("test_vislite_vit", img_size=32, init=tmp_path / "missing.pth")
    wrong = tmp_path / "resnet.pth"
    torch.save(timm.create_model("test_vislite_resnet").state_dict(), wrong)
    with pytest.raises(CheckpointError, match="missing keys"):
        build_vit_backbone("test_vislite_vit", img_size=32, init=wrong)
    small = tmp_path / "small.pth"
    torch.save(timm.create_model("vislite_vit_tiny", num_classes=0).state_dict(), small)
    with pytest.raises(CheckpointError, match="shape mismatch|cannot fit pos_embed"):
        build_vit_backbone("test_vislite_vit", img_size=32, init=small)
