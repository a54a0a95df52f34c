"""vislite-track-eval and the readers on annotation-only copies (results and annotations kept, frames deleted)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vislite_common.data.world import make_got10k, make_lasot
from vislite_tracking.data import load_sequences
from vislite_tracking.eval.cli import main


def _strip_frames(root: Path) -> int:
    """Delete every frame below ``root``; return how many."""
    frames = list(root.rglob("*.jpg"))
    for path in frames:
        path.unlink()
    for folder in sorted(root.rglob("img"), reverse=True):
        if folder.is_dir():
            shutil.rmtree(folder)
    return len(frames)


def _perfect_results(sequences, out: Path) -> Path:
    out.mkdir()
    for seq in sequences:
        np.savetxt(out / f"{seq.name}.txt", np.nan_to_num(seq.boxes), fmt="%.2f", delimiter="\t")
    return out


@pytest.mark.parametrize("dataset", ["lasot", "got10k"])
def test_eval_scores_an_annotation_only_copy(tmp_path: Path, dataset: str) -> None:
    if dataset == "lasot":
        root = make_lasot(tmp_path / "lasot", frame_size=(64, 48), num_sequences=2, num_frames=6)
    else:
        root = make_got10k(tmp_path / "got10k", frame_size=(64, 48), num_train=1, num_val=2, num_frames=6)
    full = load_sequences(dataset, root, None)
    results = _perfect_results(full, tmp_path / "results")
    with_frames = tmp_path / "with_frames.json"
    main(["--dataset", dataset, "--root", str(root), "--results", str(results), "--json", str(with_frames)])
    assert _strip_frames(root) > 0
    stripped = load_sequences(dataset, root, None)
    assert [len(s) for s in stripped] == [len(s) for s in full]  # frame counts from the annotation files
    assert all(not s.frames[0].exists() for s in stripped)
    out = tmp_path / "scores.json"
    main(["--dataset", dataset, "--root", str(root), "--results", str(results), "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(with_frames.read_text())  # the same scores without frames


def test_tracking_a_stripped_sequence_names_the_missing_frame(tmp_path: Path) -> None:
    from vislite_tracking.data.frames import read_frame

    root = make_lasot(tmp_path / "lasot", frame_size=(64, 48), num_sequences=1, num_frames=4)
    _strip_frames(root)
    seq = load_sequences("lasot", root, None)[0]
    with pytest.raises(FileNotFoundError, match=r"img/00000001\.jpg: missing frame"):
        read_frame(seq.frames[0])


def test_otb_and_trackingnet_readers_count_frames_from_annotations(tmp_path: Path) -> None:
    from vislite_tracking.data.otb import read_otb
    from vislite_tracking.data.trackingnet import read_trackingnet

    (tmp_path / "Boy").mkdir()
    (tmp_path / "Boy" / "groundtruth_rect.txt").write_text("1,2,3,4\n2,3,4,5\n3,4,5,6\n")
    otb = read_otb(tmp_path / "Boy")
    assert len(otb) == 3 and otb.frames[0] == tmp_path / "Boy" / "img" / "0001.jpg"
    (tmp_path / "TRAIN_0" / "anno").mkdir(parents=True)
    (tmp_path / "TRAIN_0" / "anno" / "seq.txt").write_text("1,2,3,4\n2,3,4,5\n")
    net = read_trackingnet(tmp_path / "TRAIN_0", "seq")
    assert len(net) == 2 and net.frames[1] == tmp_path / "TRAIN_0" / "frames" / "seq" / "1.jpg"
