"""TrackingNet reader on the embedded world's GOT-10k sequences re-written in TrackingNet's layout, and
TrackingNet as a fourth source of the training sampler."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from vislite_common.data.formats import FormatError
from vislite_tracking.data import load_sequences, read_frame, read_trackingnet
from vislite_tracking.data.sampler import CropSettings, TrackingPairs
from vislite_tracking.data.sequence import Sequence
from vislite_tracking.data.trackingnet import chunk_folders


def _write(chunk_dir: Path, seq: Sequence, *, first_box_only: bool = False) -> None:
    """``seq`` as ``chunk_dir/frames/<name>/0.jpg ...`` (hard links) and ``chunk_dir/anno/<name>.txt``."""
    frames = chunk_dir / "frames" / seq.name
    frames.mkdir(parents=True)
    for i, frame in enumerate(seq.frames):
        try:
            os.link(frame, frames / f"{i}.jpg")
        except OSError:  # another file system
            shutil.copyfile(frame, frames / f"{i}.jpg")
    (chunk_dir / "anno").mkdir(exist_ok=True)
    boxes = seq.boxes[:1] if first_box_only else seq.boxes
    (chunk_dir / "anno" / f"{seq.name}.txt").write_text("".join(",".join(f"{v:g}" for v in b) + "\n" for b in boxes))


@pytest.fixture
def trackingnet(world: Path, tmp_path: Path) -> tuple[Path, list[Sequence]]:
    """TRAIN_0 (train sequences 1, 2), TRAIN_1 (3, 4) and TEST (val sequence 1, first box only)."""
    source = load_sequences("got10k", world / "got10k", "train")
    root = tmp_path / "trackingnet"
    for i, seq in enumerate(source):
        _write(root / f"TRAIN_{i // 2}", seq)
    _write(root / "TEST", load_sequences("got10k", world / "got10k", "val")[0], first_box_only=True)
    return root, source


def test_chunks_are_selectable() -> None:
    assert chunk_folders(None) == chunk_folders("train") == [f"TRAIN_{i}" for i in range(12)]
    assert chunk_folders("test") == ["TEST"]
    assert chunk_folders("0-2,TRAIN_5,1") == ["TRAIN_0", "TRAIN_1", "TRAIN_2", "TRAIN_5"]
    for bad in ("12", "3-1", "TRAIN_x", "val"):
        with pytest.raises(ValueError, match="not a chunk"):
            chunk_folders(bad)


def test_reads_the_layout_chunk_by_chunk(trackingnet: tuple[Path, list[Sequence]]) -> None:
    root, source = trackingnet
    seqs = load_sequences("trackingnet", root, "0-1")
    assert [s.name for s in seqs] == [s.name for s in source]
    for seq, original in zip(seqs, source):
        assert seq.dataset == "trackingnet" and len(seq) == len(original)
        assert [f.name for f in seq.frames[:3]] == ["0.jpg", "1.jpg", "2.jpg"]
        assert np.array_equal(seq.boxes, original.boxes)
        assert np.array_equal(seq.visible, (original.boxes[:, 2] > 0) & (original.boxes[:, 3] > 0))
    assert np.array_equal(read_frame(seqs[0].frames[7]), read_frame(source[0].frames[7]))
    assert [s.name for s in load_sequences("trackingnet", root, "TRAIN_1")] == [s.name for s in source[2:]]


def test_test_chunk_carries_only_the_first_box(trackingnet: tuple[Path, list[Sequence]]) -> None:
    (seq,) = load_sequences("trackingnet", trackingnet[0], "test")
    assert np.isfinite(seq.boxes[0]).all() and np.isnan(seq.boxes[1:]).all()
    assert seq.visible.tolist() == [True] + [False] * (len(seq) - 1)


def test_missing_chunks_and_roots_are_named(trackingnet: tuple[Path, list[Sequence]], tmp_path: Path) -> None:
    root, _ = trackingnet
    with pytest.raises(FileNotFoundError, match=r"TRAIN_2/anno: missing TrackingNet chunk TRAIN_2 .*'0-3'"):
        load_sequences("trackingnet", root)  # "train" needs all twelve chunks
    with pytest.raises(FileNotFoundError, match="missing TrackingNet root"):
        load_sequences("trackingnet", tmp_path / "nowhere")


def test_malformed_input_names_the_file_and_line(trackingnet: tuple[Path, list[Sequence]]) -> None:
    root, source = trackingnet
    chunk, name = root / "TRAIN_0", source[0].name
    anno = chunk / "anno" / f"{name}.txt"
    lines = anno.read_text().splitlines()
    anno.write_text("\n".join([*lines[:2], "1,2,3", *lines[3:]]) + "\n")
    with pytest.raises(FormatError, match=rf"{name}.txt: line 3 has 3 values"):
        read_trackingnet(chunk, name)
    anno.write_text("\n".join([*lines[:4], "nan,2,3,4", *lines[5:]]) + "\n")
    with pytest.raises(FormatError, match=rf"{name}.txt: line 5 has a negative or non-finite value"):
        read_trackingnet(chunk, name)
    anno.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(FormatError, match=f"has {len(lines) - 1} boxes but the sequence has {len(lines)} frames"):
        read_trackingnet(chunk, name)
    anno.write_text("\n".join(lines) + "\n")
    (chunk / "frames" / name / "5.jpg").unlink()
    with pytest.raises(FormatError, match=rf"sequence '{name}' misses frame 5.jpg"):
        read_trackingnet(chunk, name)
    with pytest.raises(FileNotFoundError, match="missing TrackingNet annotation of sequence 'nope'"):
        read_trackingnet(chunk, "nope")


def test_trackingnet_as_a_sampler_source(trackingnet: tuple[Path, list[Sequence]], world: Path) -> None:
    root, _ = trackingnet
    reads: list[str] = []

    def reader(path: object) -> np.ndarray:
        reads.append("trackingnet" if "TRAIN_" in str(path) else "other")
        return read_frame(path)

    sources = [load_sequences("lasot", world / "lasot"), load_sequences("trackingnet", root, "0-1")]
    pairs = TrackingPairs(
        sources=sources, samples_per_epoch=40, crops=CropSettings(template_size=32, search_size=64, stride=8),
        frame_reader=reader,
    )  # fmt: skip
    for i in range(40):
        item = pairs[i]
        assert item["search"].shape == (3, 64, 64) and 0 < item["search_box"][2] < 1
    assert 0.25 < reads.count("trackingnet") / len(reads) < 0.75  # 1:1
