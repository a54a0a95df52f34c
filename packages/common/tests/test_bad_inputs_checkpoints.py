"""Checkpoint files that are hostile, damaged or not checkpoints: refused with the file's name, nothing run."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from vislite_common.checkpoint import CheckpointError, safe_load
from vislite_common.checkpoint_allowlist import InertRecord


class _System:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


class _Popen:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", str(self.marker)],))


@pytest.mark.parametrize("payload", [_System, _Eval, _Popen])
@pytest.mark.parametrize("where", ["top", "nested", "state_dict"])
def test_hostile_payloads_are_refused_and_never_run(tmp_path: Path, monkeypatch, payload, where: str) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "ran"
    evil = payload(marker)
    obj = {"top": evil, "nested": {"a": [1, {"b": evil}]}, "state_dict": {"w": torch.ones(1), "x": evil}}[where]
    path = tmp_path / "evil.ckpt"
    torch.save(obj if where == "top" else {where: obj}, path)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.ckpt.*would run code"):
        safe_load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"empty\.ckpt is empty \(0 bytes\)"),
        (b"garbage bytes, not a checkpoint", r"empty\.ckpt is not a readable torch checkpoint"),
        (b"PK\x03\x04 truncated zip", r"empty\.ckpt is not a readable torch checkpoint"),
    ],
)
def test_damaged_files_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "empty.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        safe_load(path)


def test_truncated_checkpoint_is_named(tmp_path: Path) -> None:
    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"w": torch.ones(64)}}, whole)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt is not a readable torch checkpoint \(truncated or corrupt"):
        safe_load(cut)


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt does not exist"):
        safe_load(tmp_path / "nope.ckpt")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        safe_load(tmp_path)


def test_tracker_training_state_objects_load_inert(tmp_path: Path) -> None:
    """OSTrack / pytracking checkpoints pickle their ``Settings``: read as plain data, its code never imported."""
    module = types.ModuleType("lib.train.admin.settings")

    class Settings:
        def __init__(self) -> None:
            self.env = "local"
            self.batch_size = 32

    Settings.__module__, Settings.__qualname__ = "lib.train.admin.settings", "Settings"
    module.Settings = Settings
    names = ("lib", "lib.train", "lib.train.admin", "lib.train.admin.settings")
    for name in names:
        sys.modules[name] = module if name.endswith("settings") else types.ModuleType(name)
    try:
        path = tmp_path / "OSTrack_ep0300.pth.tar"
        torch.save({"net": {"w": torch.ones(2)}, "settings": Settings(), "epoch": 300}, path)
    finally:
        for name in names:
            del sys.modules[name]
    loaded = safe_load(path)
    assert isinstance(loaded["settings"], InertRecord) and loaded["settings"].batch_size == 32
    assert torch.equal(loaded["net"]["w"], torch.ones(2))
