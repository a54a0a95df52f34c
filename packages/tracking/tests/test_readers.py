"""Readers on the embedded world's LaSOT, GOT-10k and COCO output, and on OTB fixtures written here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vislite_common.data.formats import FormatError
from vislite_common.data.world import make_coco, make_got10k, make_lasot
from vislite_tracking.data import (
    FRAME_RANGES,
    CocoPairs,
    load_sequences,
    read_frame,
    read_got10k,
    read_lasot,
    read_otb,
)
from vislite_tracking.data.coco_pairs import coco_pairs
from vislite_tracking.eval import EvaluationError, Run, evaluate, write_results

FRAME_SIZE = (64, 48)  # W, H
FRAMES = 8


@pytest.fixture(scope="module")
def lasot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lasot(tmp_path_factory.mktemp("lasot"), num_sequences=3, num_frames=FRAMES, frame_size=FRAME_SIZE)


@pytest.fixture(scope="module")
def got10k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("got10k")
    return make_got10k(root, num_train=1, num_val=2, num_frames=FRAMES, frame_size=FRAME_SIZE)


def _flags(path: Path) -> np.ndarray:
    return np.array([int(v) for v in path.read_text().strip().split(",")], dtype=bool)


# ---------------------------------------------------------------------------------------------------- LaSOT
def test_lasot_reads_the_embedded_world(lasot_root: Path) -> None:
    seqs = load_sequences("lasot", lasot_root)
    assert len(seqs) == 3
    for seq in seqs:
        seq_dir = lasot_root / seq.object_class / seq.name
        assert seq.dataset == "lasot" and len(seq) == FRAMES
        assert seq.frames[0] == seq_dir / "img" / "00000001.jpg"
        expected = ~(_flags(seq_dir / "full_occlusion.txt") | _flags(seq_dir / "out_of_view.txt"))
        assert np.array_equal(seq.visible, expected)
        assert np.array_equal(seq.boxes, np.loadtxt(seq_dir / "groundtruth.txt", delimiter=",", ndmin=2))
    assert read_frame(seqs[0].frames[0]).shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)


def test_lasot_splits_follow_the_list_files(lasot_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "lasot"
    shutil.copytree(lasot_root, root)
    names = [s.name for s in load_sequences("lasot", root)]
    with pytest.raises(FileNotFoundError, match="testing_set.txt"):
        load_sequences("lasot", root, "test")
    (root / "testing_set.txt").write_text(f"{names[1]}\n")
    assert [s.name for s in load_sequences("lasot", root, "test")] == [names[1]]
    assert [s.name for s in load_sequences("lasot", root, "train")] == [names[0], names[2]]
    (root / "lasot_train_split.txt").write_text(f"{names[2]}\n")  # the reference trainer's list wins
    assert [s.name for s in load_sequences("lasot", root, "train")] == [names[2]]
    (root / "testing_set.txt").write_text("circle-9\n")
    with pytest.raises(FileNotFoundError, match="circle-9"):
        load_sequences("lasot", root, "test")


def _copy_sequence(lasot_root: Path, tmp_path: Path) -> Path:
    source = read_lasot(next(p for p in sorted(lasot_root.glob("*/*-1")) if p.is_dir()))
    seq_dir = tmp_path / source.object_class / source.name
    shutil.copytree(source.frames[0].parent.parent, seq_dir)
    return seq_dir


def test_lasot_errors_name_the_file_and_line(lasot_root: Path, tmp_path: Path) -> None:
    seq_dir = _copy_sequence(lasot_root, tmp_path)
    gt = seq_dir / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    gt.write_text("\n".join([*lines[:2], "1,2,3", *lines[3:]]) + "\n")
    with pytest.raises(FormatError, match=r"groundtruth.txt: line 3 has 3 values"):
        read_lasot(seq_dir)
    gt.write_text("\n".join([*lines[:4], "1,2,nan,4", *lines[5:]]) + "\n")
    with pytest.raises(FormatError, match=r"line 5 has a negative or non-finite value"):
        read_lasot(seq_dir)
    gt.write_text("\n".join([*lines, lines[-1]]) + "\n")
    with pytest.raises(FormatError, match=f"has {FRAMES + 1} boxes but the sequence has {FRAMES} frames"):
        read_lasot(seq_dir)
    gt.write_text("\n".join(lines) + "\n")
    (seq_dir / "img" / "00000003.jpg").unlink()
    with pytest.raises(FormatError, match="00000003.jpg is missing"):
        read_lasot(seq_dir)


# -------------------------------------------------------------------------------------------------- GOT-10k
def test_got10k_reads_the_embedded_world(got10k_root: Path) -> None:
    val = load_sequences("got10k", got10k_root)  # val is the default split
    assert [s.name for s in val] == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    train = load_sequences("got10k", got10k_root, "train")
    assert [s.name for s in train] == ["GOT-10k_Train_000001"]
    for seq in val:
        seq_dir = got10k_root / "val" / seq.name
        absence = np.loadtxt(seq_dir / "absence.label", dtype=int)
        assert np.array_equal(seq.visible, absence == 0)
        assert np.array_equal(seq.cover, np.loadtxt(seq_dir / "cover.label", dtype=int))
        assert seq.frame_size == FRAME_SIZE and seq.object_class is not None
        assert np.allclose(seq.boxes, np.loadtxt(seq_dir / "groundtruth.txt", delimiter=","))
    with pytest.raises(ValueError, match="unknown GOT-10k split"):
        load_sequences("got10k", got10k_root, "trainval")


def test_got10k_index_splits_pick_train_sequences(got10k_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "got10k"
    shutil.copytree(got10k_root, root)
    with pytest.raises(FileNotFoundError, match="got10k_vot_train_split.txt"):
        load_sequences("got10k", root, "vottrain")
    (root / "got10k_vot_train_split.txt").write_text("0\n")
    assert [s.name for s in load_sequences("got10k", root, "vottrain")] == ["GOT-10k_Train_000001"]
    (root / "got10k_vot_val_split.txt").write_text("0\n1\n")
    with pytest.raises(FormatError, match="line 2: '1' is not an index below 1"):
        load_sequences("got10k", root, "votval")


def test_got10k_test_split_has_only_the_first_box(got10k_root: Path, tmp_path: Path) -> None:
    seq_dir = tmp_path / "test" / "GOT-10k_Test_000001"
    shutil.copytree(got10k_root / "val" / "GOT-10k_Val_000001", seq_dir)
    first = (seq_dir / "groundtruth.txt").read_text().splitlines()[0]
    (seq_dir / "groundtruth.txt").write_text(first + "\n")
    for label in ("absence.label", "cover.label", "cut_by_image.label"):
        (seq_dir / label).unlink()
    (seq_dir.parent / "list.txt").write_text(seq_dir.name + "\n")
    (seq,) = load_sequences("got10k", tmp_path, "test")
    assert len(seq) == FRAMES and np.isfinite(seq.boxes[0]).all() and np.isnan(seq.boxes[1:]).all()
    assert seq.visible.tolist() == [True] + [False] * (FRAMES - 1)
    write_results(tmp_path / "res", seq.name, Run(np.tile(seq.boxes[0], (FRAMES, 1))))
    with pytest.raises(EvaluationError, match="GOT-10k test"):
        evaluate([seq], tmp_path / "res", dataset="got10k", convention="got10k")


def test_got10k_label_length_mismatch(got10k_root: Path, tmp_path: Path) -> None:
    seq_dir = tmp_path / "GOT-10k_Val_000001"
    shutil.copytree(got10k_root / "val" / seq_dir.name, seq_dir)
    (seq_dir / "cover.label").write_text("8\n" * (FRAMES - 1))
    with pytest.raises(FormatError, match=f"cover.label: has {FRAMES - 1} labels but the sequence has {FRAMES}"):
        read_got10k(seq_dir)


# ------------------------------------------------------------------------------------------------------ OTB
def _otb_sequence(root: Path, name: str, frames: range, annotations: dict[str, str], images: bool = False) -> None:
    img = root / name / "img"
    img.mkdir(parents=True)
    pixels = np.zeros((12, 16, 3), dtype=np.uint8)
    for number in frames:
        path = img / f"{number:04d}.jpg"
        if images:
            cv2.imwrite(str(path), pixels)
        else:
            path.touch()  # the reader lists frames; only read_frame decodes them
    for file_name, text in annotations.items():
        (root / name / file_name).write_text(text)


def _boxes(n: int, sep: str = ",", start: int = 0) -> str:
    return "".join(sep.join(str(v) for v in (start + i, 2, 5, 6)) + "\n" for i in range(n))


@pytest.fixture
def otb_root(tmp_path: Path) -> Path:
    root = tmp_path / "otb"
    _otb_sequence(root, "Basket", range(1, 6), {"groundtruth_rect.txt": _boxes(5)}, images=True)
    two = {"groundtruth_rect.1.txt": _boxes(4, "\t"), "groundtruth_rect.2.txt": _boxes(4, " ", start=50)}
    _otb_sequence(root, "Jogging", range(1, 5), two)
    _otb_sequence(root, "Human4", range(1, 4), {"groundtruth_rect.2.txt": _boxes(3)})
    start, end = FRAME_RANGES["David"]
    _otb_sequence(root, "David", range(1, end + 1), {"groundtruth_rect.txt": _boxes(end - start + 1, start=1000)})
    _otb_sequence(root, "Tiger1", range(1, 11), {"groundtruth_rect.txt": _boxes(10)})
    return root


def test_otb_two_targets_partial_ranges_and_init_omit(otb_root: Path) -> None:
    seqs = {s.name: s for s in load_sequences("otb", otb_root)}
    assert sorted(seqs) == ["Basket", "David", "Human4_2", "Jogging_1", "Jogging_2", "Tiger1"]
    assert seqs["Jogging_1"].frames == seqs["Jogging_2"].frames
    assert seqs["Jogging_1"].boxes[0, 0] == 0 and seqs["Jogging_2"].boxes[0, 0] == 50
    david = seqs["David"]
    assert len(david) == 471 and david.frames[0].name == "0300.jpg" and david.frames[-1].name == "0770.jpg"
    assert david.boxes[0, 0] == 1000 and david.boxes[-1, 0] == 1470
    tiger = seqs["Tiger1"]
    assert len(tiger) == 5 and tiger.frames[0].name == "0006.jpg" and tiger.boxes[0, 0] == 5
    assert all(s.visible.all() and s.dataset == "otb" for s in seqs.values())
    assert read_frame(seqs["Basket"].frames[0]).shape == (12, 16, 3)


def test_otb_errors(otb_root: Path) -> None:
    (otb_root / "David" / "img" / "0450.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="'David' misses frame 450"):
        read_otb(otb_root / "David")
    (otb_root / "Basket" / "groundtruth_rect.txt").write_text(_boxes(4))
    (otb_root / "Basket" / "img" / "0005.jpg").unlink()
    assert len(read_otb(otb_root / "Basket")) == 4
    lines = _boxes(470, start=1000)
    (otb_root / "David" / "groundtruth_rect.txt").write_text(lines)
    with pytest.raises(FormatError, match=r"has 470 boxes but sequence 'David' spans frames 300..770"):
        read_otb(otb_root / "David")
    (otb_root / "Tiger1" / "groundtruth_rect.txt").write_text("1,2,3,4\n1;2;3;4\n")
    with pytest.raises(FormatError, match="line 2"):
        read_otb(otb_root / "Tiger1")
    with pytest.raises(ValueError, match="OTB has no split"):
        load_sequences("otb", otb_root, "train")


# ----------------------------------------------------------------------------------------------------- COCO
def test_coco_pairs_from_the_embedded_world(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco", num_train=3, num_val=1, image_size=64)
    pairs = coco_pairs(root, "train")
    data = json.loads((root / "annotations" / "instances_train.json").read_text())
    kept = [a for a in data["annotations"] if not a.get("iscrowd") and a["bbox"][2] > 0 and a["bbox"][3] > 0]
    assert len(pairs) == len(kept) > 0
    image, box = pairs[0]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(box, np.asarray(kept[0]["bbox"], dtype=np.float64))
    seq = pairs.as_sequence(0)
    assert len(seq) == 1 and seq.dataset == "coco" and seq.name == f"coco-{kept[0]['id']}"
    assert np.array_equal(seq.boxes[0], box) and seq.object_class in {c["name"] for c in data["categories"]}


def test_coco_pairs_reject_malformed_annotations(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    ann = tmp_path / "instances.json"
    images = [{"id": 1, "file_name": "a.jpg"}]
    categories = [{"id": 1, "name": "circle"}]
    ann.write_text(json.dumps({"images": images, "categories": categories, "annotations": [{"image_id": 1}]}))
    with pytest.raises(FormatError, match="annotation #0 has no 'bbox' field"):
        CocoPairs(annotation_file=ann, image_dir=tmp_path / "images")
    bad = [{"image_id": 2, "bbox": [0, 0, 4, 4]}]
    ann.write_text(json.dumps({"images": images, "categories": categories, "annotations": bad}))
    with pytest.raises(FormatError, match="image_id 2 is not among the images"):
        CocoPairs(annotation_file=ann, image_dir=tmp_path / "images")
    crowd = [{"image_id": 1, "bbox": [0, 0, 4, 4], "iscrowd": 1}, {"image_id": 1, "bbox": [0, 0, 0, 4]}]
    ann.write_text(json.dumps({"images": images, "categories": categories, "annotations": crowd}))
    with pytest.raises(FormatError, match="no non-crowd object"):
        CocoPairs(annotation_file=ann, image_dir=tmp_path / "images")


def test_load_sequences_rejects_unknown_datasets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tracking dataset 'vot'"):
        load_sequences("vot", tmp_path)
