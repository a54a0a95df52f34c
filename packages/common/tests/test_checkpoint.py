"""Checkpoints: atomic writes survive failures and kills, pickles are refused, keys remap, backbones export."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones in timm)
from vislite_common.checkpoint import (
    CheckpointError,
    adapt_state_dict_to_model,
    atomic_save,
    export_backbone,
    extract_state_dict,
    load_into,
    remap_state_dict,
    resize_pos_embed,
    safe_load,
)


def _tiny_vit(**kwargs) -> nn.Module:
    args = dict(img_size=32, patch_size=8, depth=2, num_classes=0)
    return timm.create_model("vit_tiny_patch16_224", **{**args, **kwargs}).eval()


# ------------------------------------------------------------------------------------------------------ atomic save
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error) -> None:
    path = tmp_path / "last.ckpt"
    atomic_save({"step": torch.tensor(1)}, path)
    real_save = torch.save

    def broken_save(obj, handle) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])  # half a checkpoint, then the failure
        raise error

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(type(error)):
        atomic_save({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert safe_load(path)["step"].item() == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temporary file left behind


def test_save_replaces_and_keeps_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "weights.pth"  # missing parent folders are created
    atomic_save({"w": torch.ones(2)}, path)
    path.chmod(0o640)
    atomic_save({"w": torch.zeros(2)}, path)
    assert safe_load(path)["w"].tolist() == [0.0, 0.0]
    assert path.stat().st_mode & 0o777 == 0o640


def _save_loop(path: str, weights: torch.Tensor, conn) -> None:
    """Child process: save a growing step forever, telling the parent before each save starts."""
    step = 0
    while True:
        step += 1
        conn.send(step)
        atomic_save({"step": torch.tensor(step), "w": weights}, path)


def _fork_context() -> mp.context.BaseContext:
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork (a spawned interpreter takes longer than this test's budget to import torch)")
    return mp.get_context("fork")


def test_save_killed_mid_loop_leaves_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    weights = torch.randn(2048, 2048)  # 16 MiB: each save takes some milliseconds
    ctx = _fork_context()
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_save_loop, args=(str(path), weights, child), daemon=True)
    proc.start()
    while parent.recv() < 4:  # three saves complete, the fourth has begun
        pass
    time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    saved = safe_load(path)
    assert saved["step"].item() >= 3
    torch.testing.assert_close(saved["w"], weights)


def _stall_mid_write(path: str, conn) -> None:
    """Child process: write half of the next checkpoint, tell the parent, and wait to be killed."""
    real_save = torch.save

    def half_then_stall(obj, handle) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        conn.send("half written")
        time.sleep(60)

    torch.save = half_then_stall
    atomic_save({"step": torch.tensor(2)}, path)


def test_save_killed_mid_write_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    atomic_save({"step": torch.tensor(1)}, path)
    ctx = _fork_context()
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_stall_mid_write, args=(str(path), child), daemon=True)
    proc.start()
    assert parent.poll(10) and parent.recv() == "half written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert safe_load(path)["step"].item() == 1
    leftovers = [name for name in os.listdir(tmp_path) if name != "last.ckpt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".last.ckpt.") and leftovers[0].endswith(".tmp")


# ------------------------------------------------------------------------------------------------------ safe load
class _Payload:
    """Unpickling this calls ``os.mkdir(marker)``: code that runs on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: it contains arbitrary Python objects") as info:
        safe_load(path)
    message = str(info.value)
    assert "posix.mkdir" in message or "mkdir" in message  # the refused callable is named
    assert "would run code" in message and "weights_only=False" in message and "plain state dict" in message
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the positive control: an unsafe load does run the payload
    assert marker.is_dir()


def test_missing_corrupt_and_safetensors_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt does not exist"):
        safe_load(tmp_path / "missing.ckpt")
    good = tmp_path / "good.ckpt"
    atomic_save({"w": torch.arange(4.0)}, good)
    (tmp_path / "cut.ckpt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt is not a readable torch checkpoint"):
        safe_load(tmp_path / "cut.ckpt")
    pytest.importorskip("safetensors")
    model = nn.Linear(3, 2)
    export_backbone(model, tmp_path / "linear.safetensors")
    loaded = safe_load(tmp_path / "linear.safetensors")
    torch.testing.assert_close(loaded["weight"], model.weight.detach())


# ---------------------------------------------------------------------------------------------------- key handling
def test_extract_state_dict_from_containers() -> None:
    weights = {"blocks.0.weight": torch.ones(1), "head.bias": torch.zeros(1)}
    assert extract_state_dict(weights) == weights
    assert extract_state_dict({"state_dict": weights, "epoch": 3, "optimizer_states": []}) == weights  # Lightning
    assert extract_state_dict({"model": weights, "args": {"lr": 1.0}}) == weights  # MAE / DeiT
    assert extract_state_dict({"model": {"state_dict": weights}}) == weights
    with pytest.raises(CheckpointError, match=r"top-level keys are \['epoch', 'optimizer'\]"):
        extract_state_dict({"epoch": 3, "optimizer": {}})


def test_remap_strips_prefixes_and_renames() -> None:
    weights = {
        "module._orig_mod.model.blocks.0.weight": torch.ones(1),
        "model.backbone.norm.bias": torch.zeros(1),
        "fc.weight": torch.zeros(1),
    }
    assert sorted(remap_state_dict(weights)) == ["blocks.0.weight", "fc.weight", "norm.bias"]
    assert sorted(remap_state_dict(weights, strip_prefixes=("module.",))) == [
        "_orig_mod.model.blocks.0.weight",
        "fc.weight",
        "model.backbone.norm.bias",
    ]
    renamed = remap_state_dict(weights, rename={"fc.": "head.", "fc.weight": "head.kernel", "blocks.": "layers."})
    assert sorted(renamed) == ["head.kernel", "layers.0.weight", "norm.bias"]  # the longest prefix wins
    kept = remap_state_dict(weights, rename=lambda key: None if key.startswith("fc.") else key.upper())
    assert sorted(kept) == ["BLOCKS.0.WEIGHT", "NORM.BIAS"]
    with pytest.raises(CheckpointError, match="both map to 'w'"):
        remap_state_dict({"module.w": torch.ones(1), "w": torch.ones(1)})


# ------------------------------------------------------------------------------------------------- fitting models
def test_pos_embed_resize_to_another_grid() -> None:
    small, large = _tiny_vit(img_size=32), _tiny_vit(img_size=48)  # 4x4 and 6x6 patch grids
    pos = small.pos_embed.detach()
    resized = resize_pos_embed(pos, (6, 6))
    assert resized.shape == large.pos_embed.shape == (1, 1 + 36, 192)
    torch.testing.assert_close(resized[:, 0], pos[:, 0])  # the class token is not interpolated
    assert resize_pos_embed(pos, (4, 4)) is pos
    wide = resize_pos_embed(pos, (3, 8))
    assert wide.shape == (1, 1 + 24, 192)
    back = resize_pos_embed(wide, (4, 4), old_grid=(3, 8))
    assert back.shape == pos.shape
    with pytest.raises(ValueError, match="not a square grid"):
        resize_pos_embed(wide, (4, 4))


def test_adapt_and_load_into_model() -> None:
    small = _tiny_vit(img_size=32, num_classes=10)
    large = _tiny_vit(img_size=48, num_classes=5)
    lightning = {"state_dict": {f"model.{k}": v for k, v in small.state_dict().items()}, "epoch": 1}
    state = remap_state_dict(extract_state_dict(lightning))
    with pytest.raises(CheckpointError, match=r"shape mismatch .*head\.weight: checkpoint \(10, 192\) vs model"):
        load_into(large, adapt_state_dict_to_model(state, large))  # the head is only dropped when asked
    fitted = adapt_state_dict_to_model(state, large, drop_mismatched=("head.",))
    assert fitted["pos_embed"].shape == large.pos_embed.shape and "head.weight" not in fitted
    with pytest.raises(CheckpointError, match=r"missing keys \['head.weight', 'head.bias'\], unexpected keys \[\]"):
        load_into(large, fitted)
    missing, unexpected = load_into(large, fitted, allow_missing=("head.",))
    assert (missing, unexpected) == (["head.weight", "head.bias"], [])
    torch.testing.assert_close(large.blocks[1].mlp.fc2.weight, small.blocks[1].mlp.fc2.weight)
    extra = dict(fitted, **{"decoder.weight": torch.ones(1)})
    with pytest.raises(CheckpointError, match=r"unexpected keys \['decoder.weight'\]"):
        load_into(large, extra, allow_missing=("head.",))
    assert load_into(large, extra, strict=False)[1] == ["decoder.weight"]


# --------------------------------------------------------------------------------------------------------- export
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to open a connection or resolve a name fails the test (and is recorded)."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_exported_backbone_loads_into_timm(tmp_path: Path, no_network: list[str], suffix: str) -> None:
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    torch.manual_seed(0)
    model = _tiny_vit()
    wrapped = nn.Module()
    wrapped.backbone = model  # exported keys lose the wrapper's "backbone." prefix
    path = tmp_path / f"backbone{suffix}"
    state = export_backbone(wrapped, path)
    assert sorted(state) == sorted(model.state_dict())
    assert all(v.is_contiguous() and v.device.type == "cpu" for v in state.values())
    reloaded = timm.create_model(
        "vit_tiny_patch16_224",
        img_size=32,
        patch_size=8,
        depth=2,
        num_classes=0,
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(path)),
    ).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(images), model(images), rtol=0, atol=0)
    assert no_network == []
