"""Checkpoints: atomic writes survive failures and kills, pickles are refused, keys remap, backbones export."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import timm
import torch

import vislite_common  # noqa: F401
from vislite_common.checkpoint import (
    CheckpointError,
    atomic_save,
    export_backbone,
    extract_state_dict,
    load_into,
    remap_state_dict,
    resize_pos_embed,
    safe_load,
)


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.ckpt"
    atomic_save({"step": torch.tensor(1)}, path)

    def broken_save(obj, handle) -> None:
        handle.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert safe_load(path)["step"].item() == 1
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt"]


def test_save_killed_mid_write_leaves_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    script = textwrap.dedent(
        f"""
        import torch
        from vislite_common.checkpoint import atomic_save
        step = 0
        while True:
            step += 1
            atomic_save({{"step": torch.tensor(step), "w": torch.randn(512, 1024)}}, {str(path)!r})
            print(step, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(3):  # let a few saves complete, then kill during the next one
        proc.stdout.readline()
    proc.kill()
    proc.wait()
    saved = safe_load(path)
    assert saved["step"].item() >= 3
    assert saved["w"].shape == (512, 1024)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _Payload.marker = marker
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Payload()}, path)
    with pytest.raises(CheckpointError, match=r"evil.ckpt: it contains arbitrary Python objects"):
        safe_load(path)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="missing.ckpt does not exist"):
        safe_load(tmp_path / "missing.ckpt")


def test_remap_and_extract() -> None:
    weights = {"module.model.blocks.0.weight": torch.ones(1), "model.head.bias": torch.zeros(1)}
    assert sorted(remap_state_dict(weights)) == ["blocks.0.weight", "head.bias"]
    assert sorted(remap_state_dict(weights, rename={"head.": "fc."})) == ["blocks.0.weight", "fc.bias"]
    assert sorted(extract_state_dict({"model": weights, "epoch": 3})) == sorted(weights)
    with pytest.raises(CheckpointError, match="top-level keys are \\['epoch'\\]"):
        extract_state_dict({"epoch": 3})


def test_pos_embed_resize_and_strict_load() -> None:
    small = timm.create_model("test_vislite_vit", img_size=32)  # 4x4 grid
    large = timm.create_model("test_vislite_vit", img_size=64)  # 8x8 grid
    resized = resize_pos_embed(small.pos_embed.detach(), (8, 8))
    assert resized.shape == large.pos_embed.shape
    torch.testing.assert_close(resized[:, 0], small.pos_embed[:, 0].detach())  # class token untouched
    state = dict(small.state_dict(), pos_embed=resized)
    load_into(large, state)
    state.pop("head.weight")
    with pytest.raises(CheckpointError, match=r"missing keys \['head.weight'\]"):
        load_into(large, state)


def test_exported_backbone_loads_into_timm(tmp_path: Path) -> None:
    model = timm.create_model("test_vislite_vit", num_classes=0).eval()
    path = tmp_path / "backbone.pth"
    export_backbone(model, path)
    reloaded = timm.create_model(
        "test_vislite_vit", num_classes=0, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))
    ).eval()
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(reloaded.forward_features(images), model.forward_features(images))
