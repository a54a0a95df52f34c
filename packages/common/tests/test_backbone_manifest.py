"""The backbone contract's files: ``backbone.json`` + ``backbone.safetensors`` written, read and rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vislite_common.backbones import ManifestError, create_backbone, read_manifest, write_backbone
from vislite_common.backbones.export_cli import main as export_main

VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _vit(**kwargs) -> torch.nn.Module:
    return create_backbone("test_vislite_vit", **{**VIT, "num_classes": 0, **kwargs}).eval()


def test_manifest_round_trip_rebuilds_the_same_network(tmp_path: Path) -> None:
    model = _vit()
    path = write_backbone(model, tmp_path / "out", method="unit", input_size=32)
    manifest = json.loads(path.read_text())
    assert manifest["name"] == "test_vislite_vit" and manifest["kwargs"]["embed_dim"] == 32
    assert manifest["num_parameters"] == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 3, 32, 32)
    for pretrained in (path, tmp_path / "out"):  # the manifest or its folder
        rebuilt = create_backbone(pretrained=pretrained).eval()
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
    # keyword arguments override the manifest's: a new classifier on the same features
    classifier = create_backbone(pretrained=path, num_classes=5).eval()
    assert classifier(x).shape == (2, 5)
    torch.testing.assert_close(classifier.forward_features(x), model.forward_features(x), rtol=0, atol=0)


def test_manifest_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = write_backbone(_vit(), tmp_path / "out", method="unit")
    with pytest.raises(ValueError, match="not the requested 'vislite_vit_tiny'"):
        create_backbone("vislite_vit_tiny", pretrained=path)
    broken = json.loads(path.read_text())
    broken["kwargs"] = "img_size=32"
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(ManifestError, match=r"bad\.json: field 'kwargs' must be a dict"):
        read_manifest(tmp_path / "bad.json")
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(ManifestError, match="garbage.json: not a JSON backbone manifest"):
        read_manifest(tmp_path / "garbage.json")
    (tmp_path / "out" / "backbone.safetensors").unlink()
    with pytest.raises(ManifestError, match="its weights file .*backbone.safetensors does not exist"):
        create_backbone(pretrained=path)
    with pytest.raises(ValueError, match="needs a backbone name"):
        create_backbone()


def test_export_cli_reads_released_encoder_files(tmp_path: Path) -> None:
    """A MoCo-v3-style release (``module.base_encoder.*`` beside a momentum encoder) -> the base encoder."""
    model = _vit()
    state = {f"module.base_encoder.{k}": v for k, v in model.state_dict().items()}
    state.update({f"module.momentum_encoder.{k}": torch.zeros_like(v) for k, v in model.state_dict().items()})
    torch.save({"state_dict": state, "epoch": 300}, tmp_path / "mocov3.pth.tar")
    kwargs = json.dumps(VIT)
    assert export_main([str(tmp_path / "mocov3.pth.tar"), "--out", str(tmp_path / "out"), "--name",
                        "test_vislite_vit", "--kwargs", kwargs, "--method", "mocov3"]) == 0
    rebuilt = create_backbone(pretrained=tmp_path / "out").eval()
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
    assert read_manifest(tmp_path / "out")["source"]["method"] == "mocov3"
