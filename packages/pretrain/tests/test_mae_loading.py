"""MAE-lite checkpoints: released MAE-Lite format, vislite Lightning checkpoints, refusals, timm export."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from vislite_common.checkpoint import CheckpointError
from vislite_pretrain.mae_lite import (
    MaskedAutoencoderViT,
    export_encoder,
    load_mae_lite,
    mae_test_vit,
    to_reference_keys,
)


@pytest.fixture
def source() -> MaskedAutoencoderViT:
    torch.manual_seed(0)
    return mae_test_vit().eval()


def _fresh() -> MaskedAutoencoderViT:
    torch.manual_seed(123)
    return mae_test_vit().eval()


def _assert_same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> None:
    images, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        loss_a, pred_a, mask_a = a(images, 0.75, noise)
        loss_b, pred_b, mask_b = b(images, 0.75, noise)
    torch.testing.assert_close(pred_a, pred_b, rtol=0, atol=0)
    assert torch.equal(mask_a, mask_b) and float(loss_a) == float(loss_b)


def _released(model: MaskedAutoencoderViT, prefix: str) -> dict:
    """A checkpoint as MAE-Lite's ``ssl_train`` writes it (the MAE behind its training wrapper's ``model``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    model(torch.randn(1, 3, 32, 32))[0].backward()
    optimizer.step()
    model.zero_grad(set_to_none=True)
    return {
        "start_epoch": 400,
        "model": {f"{prefix}{k}": v for k, v in to_reference_keys(model.state_dict()).items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": {"last_count": 1000},
        "best_top1": 0.0,
        "scaler": {},
    }


@pytest.mark.parametrize("prefix", ["model.", "module.model.", ""])
def test_released_checkpoint_round_trip(tmp_path: Path, source: MaskedAutoencoderViT, prefix: str) -> None:
    path = tmp_path / "mae_tiny_400e.pth.tar"
    torch.save(_released(source, prefix), path)
    _assert_same_outputs(load_mae_lite(path, model=_fresh()), source)
    inferred = load_mae_lite(path)  # architecture and resolution inferred from the weights
    assert inferred.grid_size == (4, 4)
    _assert_same_outputs(inferred, source)


def test_distillation_checkpoint_keeps_only_the_student(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    ckpt = _released(source, "model.")
    ckpt["model"].update({"tch_model.cls_token": torch.zeros(1, 1, 8), "attn_adapter.adapter11.weight": torch.ones(2)})
    path = tmp_path / "d_mae.pth.tar"
    torch.save(ckpt, path)
    _assert_same_outputs(load_mae_lite(path, model=_fresh()), source)


def test_lightning_checkpoint_loads(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    path = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3, "global_step": 120, "hyper_parameters": {"mask_ratio": 0.75}}, path)
    _assert_same_outputs(load_mae_lite(path, model=_fresh()), source)
    compiled = {f"model._orig_mod.{k}": v for k, v in source.state_dict().items()}  # saved from torch.compile
    torch.save({"state_dict": compiled}, path)
    _assert_same_outputs(load_mae_lite(path, model=_fresh()), source)


def test_plain_state_dicts_load(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    for state in (source.state_dict(), to_reference_keys(source.state_dict())):
        torch.save(state, tmp_path / "plain.pth")
        _assert_same_outputs(load_mae_lite(tmp_path / "plain.pth", model=_fresh()), source)


def test_missing_and_unexpected_keys_are_named(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    state = to_reference_keys(source.state_dict())
    del state["decoder_pred.weight"]
    state["blocks.9.attn.qkv.weight"] = torch.zeros(3)
    torch.save({"model": state}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"decoder_pred\.weight.*encoder\.blocks\.9\.attn\.qkv\.weight"):
        load_mae_lite(tmp_path / "broken.pth", model=_fresh())


def test_pickled_objects_are_refused(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": to_reference_keys(source.state_dict()), "args": object()}, path)
    with pytest.raises(CheckpointError, match="arbitrary Python objects"):
        load_mae_lite(path, model=_fresh())


def test_unknown_architecture_needs_a_model(tmp_path: Path) -> None:
    state = to_reference_keys(mae_test_vit(decoder_embed_dim=16).state_dict())
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="pass model="):
        load_mae_lite(tmp_path / "odd.pth")


def test_other_resolution_regenerates_the_sincos_tables(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    torch.save({"model": to_reference_keys(source.state_dict())}, tmp_path / "mae32.pth")
    larger = load_mae_lite(tmp_path / "mae32.pth", model=mae_test_vit(img_size=48))
    assert torch.equal(larger.encoder.blocks[0].attn.qkv.weight, source.encoder.blocks[0].attn.qkv.weight)
    assert torch.equal(larger.encoder.pos_embed, mae_test_vit(img_size=48).encoder.pos_embed)  # 6x6 sin-cos


def test_exported_encoder_is_a_timm_vit(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    path = tmp_path / "encoder.pth"
    export_encoder(source, path)
    exported = torch.load(path, weights_only=True)
    plain = timm.create_model("test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False)
    assert set(exported) == set(plain.state_dict())  # cls_token, pos_embed, patch_embed, blocks, norm
    plain.load_state_dict(exported, strict=True)

    vit = timm.create_model(
        "test_vislite_vit", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
        num_classes=0, global_pool="token", fc_norm=False,
    ).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = vit.forward_features(images)  # [N, 1+L, D]
        torch.testing.assert_close(features, source.encoder.forward_features(images))
        identity = torch.arange(16.0).expand(2, 16)  # keep every patch, in order
        latent, mask, _, _ = source.forward_encoder(images, 0.0, identity)
    assert mask.sum() == 0
    torch.testing.assert_close(latent, features, atol=1e-5, rtol=1e-5)


def test_exported_encoder_initialises_a_classifier(tmp_path: Path, source: MaskedAutoencoderViT) -> None:
    """timm's default (global pooling + fc_norm) ViT loads it as MAE fine-tuning does: fc_norm and head fresh."""
    path = tmp_path / "encoder.pth"
    export_encoder(source, path)
    classifier = timm.create_model(
        "test_vislite_vit", pretrained=True, pretrained_cfg_overlay=dict(file=str(path), num_classes=0), num_classes=5
    )
    for name, value in source.encoder.state_dict().items():
        if not name.startswith("norm."):
            assert torch.equal(classifier.state_dict()[name], value), name
    assert torch.equal(classifier.fc_norm.weight, torch.ones(32))
