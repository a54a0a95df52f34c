"""Fine-tuning and probing models start from any source: vislite checkpoint, released MAE-Lite, timm, scratch."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from vislite_common.checkpoint import CheckpointError
from vislite_pretrain.mae_lite.loading import export_encoder
from vislite_pretrain.mae_lite.model import build_mae
from vislite_pretrain.weights import build_vit_classifier, build_vit_encoder


@pytest.fixture
def mae() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_mae("test_vislite_vit", img_size=32, decoder_embed_dim=16, decoder_num_heads=2).eval()


def _sources(mae: torch.nn.Module, tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.pth" for name in ("lightning", "released", "timm")}
    torch.save({"state_dict": {f"model.{k}": v for k, v in mae.state_dict().items()}}, paths["lightning"])
    torch.save({"model": {k.removeprefix("encoder."): v for k, v in mae.state_dict().items()}}, paths["released"])
    export_encoder(mae, paths["timm"])
    return paths


@pytest.mark.parametrize("source", ["lightning", "released", "timm"])
def test_classifier_gets_the_encoder_weights(mae, tmp_path: Path, source: str) -> None:
    path = _sources(mae, tmp_path)[source]
    model = build_vit_classifier("test_vislite_vit", num_classes=5, img_size=32, init=str(path))
    torch.testing.assert_close(model.blocks[3].mlp.fc2.weight, mae.encoder.blocks[3].mlp.fc2.weight)
    torch.testing.assert_close(model.patch_embed.proj.weight, mae.encoder.patch_embed.proj.weight)
    assert model.head.out_features == 5
    assert isinstance(model.norm, torch.nn.Identity)  # GAP + fresh fc_norm, as MAE-Lite fine-tunes


def test_encoder_for_probing_matches_the_mae_encoder(mae, tmp_path: Path) -> None:
    encoder = build_vit_encoder("test_vislite_vit", img_size=32, init=str(_sources(mae, tmp_path)["released"]))
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(encoder.eval().forward_features(images), mae.encoder.forward_features(images))


def test_position_table_is_resized_for_a_larger_input(mae, tmp_path: Path) -> None:
    model = build_vit_classifier(
        "test_vislite_vit", num_classes=5, img_size=64, init=str(_sources(mae, tmp_path)["timm"])
    )
    assert model.pos_embed.shape == (1, 65, 32)


def test_scratch_and_wrong_architecture(mae, tmp_path: Path) -> None:
    scratch = build_vit_classifier("test_vislite_vit", num_classes=5, img_size=32)
    assert not torch.equal(scratch.blocks[0].attn.qkv.weight, mae.encoder.blocks[0].attn.qkv.weight)
    wrong = tmp_path / "resnet.pth"
    torch.save(timm.create_model("test_vislite_resnet").state_dict(), wrong)
    with pytest.raises(CheckpointError, match="missing keys"):
        build_vit_classifier("test_vislite_vit", num_classes=5, img_size=32, init=str(wrong))
