"""MAE-lite checkpoints: released-format round trip, Lightning checkpoints, refusal of pickles, timm export."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from vislite_common.checkpoint import CheckpointError
from vislite_pretrain.mae_lite.loading import export_encoder, load_mae_lite
from vislite_pretrain.mae_lite.model import build_mae


def _tiny() -> torch.nn.Module:
    return build_mae("test_vislite_vit", img_size=32, decoder_embed_dim=16, decoder_num_heads=2).eval()


def _reference_keys(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as the reference MAE names it (no ``encoder.`` prefix)."""
    return {k.removeprefix("encoder."): v.clone() for k, v in model.state_dict().items()}


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> None:
    images, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(a(images, 0.75, noise)[1], b(images, 0.75, noise)[1])


def test_released_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = _tiny()
    path = tmp_path / "mae_tiny_400e.pth.tar"
    torch.save({"model": {f"module.{k}": v for k, v in _reference_keys(source).items()}}, path)
    _same_outputs(load_mae_lite(path, model=_tiny()), source)


def test_lightning_checkpoint_loads(tmp_path: Path) -> None:
    source = _tiny()
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}, path)
    _same_outputs(load_mae_lite(path, model=_tiny()), source)


def test_missing_keys_are_named(tmp_path: Path) -> None:
    state = _reference_keys(_tiny())
    del state["decoder_pred.weight"]
    path = tmp_path / "broken.pth"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="decoder_pred.weight"):
        load_mae_lite(path, model=_tiny())


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": _reference_keys(_tiny()), "args": object()}, path)
    with pytest.raises(CheckpointError, match="arbitrary Python objects"):
        load_mae_lite(path, model=_tiny())


def test_exported_encoder_loads_into_timm(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mae = _tiny()
    path = tmp_path / "encoder.pth"
    export_encoder(mae, path)
    vit = timm.create_model(
        "test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False,
        pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
    ).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit.forward_features(images), mae.encoder.forward_features(images))
