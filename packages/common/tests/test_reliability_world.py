"""The embedded world never deletes what it did not write and checks its manifest's checksums."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from vislite_common.data.world import make_classification
from vislite_common.data.world.output import MANIFEST

TINY = {"image_size": 16, "train_per_class": 2, "val_per_class": 1}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_parameters_keep_the_users_files(tmp_path: Path, caplog) -> None:
    root = make_classification(tmp_path / "cls", **TINY)
    mine = root / "train" / "circle" / "my_photo.jpg"
    mine.write_bytes(b"my own picture")
    notes = root / "train" / "notes.txt"
    notes.write_text("mine too")
    with caplog.at_level(logging.WARNING):
        make_classification(root, **{**TINY, "train_per_class": 3})
    assert mine.read_bytes() == b"my own picture" and notes.read_text() == "mine too"
    assert "left in place 2 file(s) it did not write" in caplog.text and "my_photo.jpg" in caplog.text
    listed = json.loads((root / MANIFEST).read_text())["files"]
    assert "train/circle/my_photo.jpg" not in listed and "train/circle/circle_00003.jpg" in listed
    make_classification(root, **{**TINY, "train_per_class": 1})  # fewer images: only the world's stale ones go
    assert mine.is_file() and not (root / "train" / "circle" / "circle_00002.jpg").exists()


def test_regenerated_world_is_byte_identical_to_a_fresh_one(tmp_path: Path) -> None:
    root = make_classification(tmp_path / "a", **{**TINY, "train_per_class": 4})
    make_classification(root, **TINY)
    assert _digests(root) == _digests(make_classification(tmp_path / "b", **TINY))


def test_same_size_corruption_is_caught_and_repaired(tmp_path: Path, caplog) -> None:
    root = make_classification(tmp_path / "cls", **TINY)
    before = _digests(root)
    victim = root / "val" / "square" / "square_00001.jpg"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    victim.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        make_classification(root, **TINY)
    assert "val/square/square_00001.jpg" in caplog.text and "sha256" in caplog.text
    assert _digests(root) == before


def test_refuses_to_overwrite_a_foreign_file_where_a_world_file_goes(tmp_path: Path) -> None:
    root = make_classification(tmp_path / "cls", **TINY)
    squatter = root / "train" / "circle" / "circle_00003.jpg"  # not a world file yet: the user's
    squatter.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match=r"did not write where world files go: train/circle/circle_00003\.jpg"):
        make_classification(root, **{**TINY, "train_per_class": 3})
    assert squatter.read_bytes() == b"user data"


def test_interrupted_staging_is_cleaned_and_never_read(tmp_path: Path) -> None:
    root = make_classification(tmp_path / "cls", **TINY)
    leftover = root / ".world-staging-dead" / "train" / "circle"
    leftover.mkdir(parents=True)
    (leftover / "x.jpg").write_bytes(b"partial")
    (root / "train" / "circle" / "circle_00001.jpg").unlink()
    make_classification(root, **TINY)
    assert not leftover.parent.parent.exists()
    assert (root / "train" / "circle" / "circle_00001.jpg").is_file()
