"""Readers of the tracking and segmentation layouts, on generated sequences and on malformed input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vislite_common.data.formats import (
    FormatError,
    ade20k_pairs,
    list_got10k_sequences,
    list_lasot_sequences,
    read_got10k_sequence,
    read_lasot_sequence,
)
from vislite_common.data.world import SHAPES, make_ade20k, make_got10k, make_lasot

FRAME_SIZE = (96, 72)


@pytest.fixture(scope="module")
def lasot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lasot(tmp_path_factory.mktemp("lasot"), seed=0, frame_size=FRAME_SIZE, num_sequences=3, num_frames=20)


@pytest.fixture(scope="module")
def got_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_got10k(
        tmp_path_factory.mktemp("got"), seed=0, frame_size=FRAME_SIZE, num_train=2, num_val=1, num_frames=20
    )


def copy_sequence(src: Path, dst: Path) -> Path:
    """A writable copy of one sequence folder."""
    shutil.copytree(src, dst)
    return dst


def assert_boxes_inside(boxes: np.ndarray) -> None:
    width, height = FRAME_SIZE
    assert boxes.shape[1] == 4
    assert (boxes[:, 2:] > 0).all()
    assert (boxes[:, 0] >= 0).all()
    assert (boxes[:, 1] >= 0).all()
    assert (boxes[:, 0] + boxes[:, 2] <= width).all()
    assert (boxes[:, 1] + boxes[:, 3] <= height).all()


# --- LaSOT ---------------------------------------------------------------------------------------------------------


def test_lasot_sequences_parse(lasot_root: Path) -> None:
    sequences = list_lasot_sequences(lasot_root)
    assert [p.relative_to(lasot_root).as_posix() for p in sequences] == [f"{s}/{s}-1" for s in sorted(SHAPES[:3])]
    for seq_dir in sequences:
        frames, boxes, full_occlusion, out_of_view = read_lasot_sequence(seq_dir)
        assert len(frames) == len(boxes) == len(full_occlusion) == len(out_of_view) == 20
        assert frames[0].name == "00000001.jpg"
        assert frames[-1].name == "00000020.jpg"
        assert Image.open(frames[0]).size == FRAME_SIZE
        assert_boxes_inside(boxes)
        assert full_occlusion.dtype == bool
        assert full_occlusion.any()
        assert not full_occlusion.all()
        assert not out_of_view.any()
        assert (seq_dir / "nlp.txt").read_text().strip().startswith(("a ", "an "))
    line = (sequences[0] / "groundtruth.txt").read_text().splitlines()[0]
    assert len(line.split(",")) == 4
    assert all(v.isdigit() for v in line.split(","))


def test_lasot_malformed_inputs_raise_clear_errors(lasot_root: Path, tmp_path: Path) -> None:
    src = list_lasot_sequences(lasot_root)[0]

    seq = copy_sequence(src, tmp_path / "columns")
    lines = (seq / "groundtruth.txt").read_text().splitlines()
    (seq / "groundtruth.txt").write_text("\n".join([lines[0] + ",7", *lines[1:]]) + "\n")
    with pytest.raises(FormatError, match=r"groundtruth\.txt: line 1 has 5 values.*expected 4"):
        read_lasot_sequence(seq)

    seq = copy_sequence(src, tmp_path / "short")
    (seq / "groundtruth.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(FormatError, match=r"groundtruth\.txt: has 19 boxes but the sequence has 20 frames"):
        read_lasot_sequence(seq)

    seq = copy_sequence(src, tmp_path / "text")
    (seq / "groundtruth.txt").write_text("\n".join(["1,2,three,4", *lines[1:]]) + "\n")
    with pytest.raises(FormatError, match="not 4 numbers"):
        read_lasot_sequence(seq)

    seq = copy_sequence(src, tmp_path / "flags")
    (seq / "full_occlusion.txt").write_text(",".join(["0"] * 19 + ["2"]) + "\n")
    with pytest.raises(FormatError, match=r"full_occlusion\.txt: value #20 is '2', expected an integer in 0\.\.1"):
        read_lasot_sequence(seq)
    (seq / "full_occlusion.txt").write_text(",".join(["0"] * 18) + "\n")
    with pytest.raises(FormatError, match=r"full_occlusion\.txt: has 18 flags but the sequence has 20 frames"):
        read_lasot_sequence(seq)

    seq = copy_sequence(src, tmp_path / "missing")
    (seq / "out_of_view.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"out_of_view\.txt: missing"):
        read_lasot_sequence(seq)

    seq = copy_sequence(src, tmp_path / "gap")
    (seq / "img" / "00000005.jpg").unlink()
    with pytest.raises(FormatError, match=r"00000005\.jpg is missing"):
        read_lasot_sequence(seq)

    with pytest.raises(FileNotFoundError, match="LaSOT sequence folder"):
        read_lasot_sequence(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no LaSOT sequences"):
        list_lasot_sequences(tmp_path / "empty")


# --- GOT-10k -------------------------------------------------------------------------------------------------------


def test_got10k_sequences_parse(got_root: Path) -> None:
    for split, count, infix in (("train", 2, "Train"), ("val", 1, "Val")):
        sequences = list_got10k_sequences(got_root, split)
        assert [p.name for p in sequences] == [f"GOT-10k_{infix}_{i:06d}" for i in range(1, count + 1)]
        for seq_dir in sequences:
            frames, boxes, absence, cover = read_got10k_sequence(seq_dir)
            assert len(frames) == len(boxes) == len(absence) == len(cover) == 20
            assert_boxes_inside(boxes)
            assert absence.any()
            assert not absence.all()
            assert (cover[absence] == 0).all()
            assert (cover[~absence] >= 1).all()
            assert cover.max() <= 8
            meta = (seq_dir / "meta_info.ini").read_text()
            assert meta.startswith("[METAINFO]")
            assert "object_class: " in meta
            cut = (seq_dir / "cut_by_image.label").read_text().split()
            assert len(cut) == 20
            assert set(cut) <= {"0", "1"}


def test_got10k_malformed_inputs_raise_clear_errors(got_root: Path, tmp_path: Path) -> None:
    src = list_got10k_sequences(got_root, "train")[0]

    seq = copy_sequence(src, tmp_path / "cover")
    values = (seq / "cover.label").read_text().split()
    (seq / "cover.label").write_text("\n".join([*values[:-1], "9"]) + "\n")
    with pytest.raises(FormatError, match=r"cover\.label: value #20 is '9', expected an integer in 0\.\.8"):
        read_got10k_sequence(seq)

    seq = copy_sequence(src, tmp_path / "extra_frame")
    shutil.copy(seq / "00000001.jpg", seq / "00000021.jpg")
    with pytest.raises(FormatError, match=r"groundtruth\.txt: has 20 boxes but the sequence has 21 frames"):
        read_got10k_sequence(seq)

    seq = copy_sequence(src, tmp_path / "absence")
    (seq / "absence.label").unlink()
    with pytest.raises(FileNotFoundError, match=r"absence\.label: missing"):
        read_got10k_sequence(seq)

    root = tmp_path / "root"
    shutil.copytree(got_root, root)
    (root / "train" / "list.txt").write_text("GOT-10k_Train_000001\nGOT-10k_Train_000099\n")
    with pytest.raises(FormatError, match=r"list\.txt: names 1 missing sequence folder.*000099"):
        list_got10k_sequences(root, "train")
    with pytest.raises(FileNotFoundError, match="GOT-10k split folder 'test'"):
        list_got10k_sequences(root, "test")


# --- ADE20K --------------------------------------------------------------------------------------------------------


def test_ade20k_pairs_and_errors(tmp_path: Path) -> None:
    root = make_ade20k(tmp_path / "ade", seed=0, image_size=32, num_train=3, num_val=1)
    pairs = ade20k_pairs(root, "train")
    assert pairs == ade20k_pairs(root, "training")
    assert len(pairs) == 3
    assert [(i.parent.name, a.parent.name) for i, a in pairs] == [("training", "training")] * 3
    assert len(ade20k_pairs(root, "val")) == 1

    with pytest.raises(ValueError, match="unknown ADE20K split 'test'"):
        ade20k_pairs(root, "test")
    pairs[1][1].unlink()
    with pytest.raises(FormatError, match=r"no annotation ADE_train_00000002\.png for image ADE_train_00000002\.jpg"):
        ade20k_pairs(root, "training")
    pairs[1][0].unlink()
    pairs[2][0].unlink()
    with pytest.raises(FormatError, match=r"no image for annotation ADE_train_00000003\.png"):
        ade20k_pairs(root, "training")
    shutil.rmtree(root / "annotations" / "validation")
    with pytest.raises(FileNotFoundError, match="ADE20K annotation folder"):
        ade20k_pairs(root, "validation")
