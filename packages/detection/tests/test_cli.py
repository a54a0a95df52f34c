"""``vislite-det``: world, noise, quality and eval subcommands on files written to disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vislite_detection.cli import main
from vislite_detection.eval import STAT_NAMES


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "coco"
    assert main(["world", "--out", str(out), "--image-size", "64", "--num-train", "6", "--num-val", "2"]) == 0
    return out


def test_world_writes_the_coco_layout(world: Path) -> None:
    data = json.loads((world / "annotations/instances_train.json").read_text())
    assert len(data["images"]) == 6 and len(list((world / "train").glob("*.jpg"))) == 6


def test_noise_then_quality(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = world / "annotations/instances_train.json"
    noisy = tmp_path / "noisy.json"
    assert main(["noise", "--in", str(clean), "--out", str(noisy), "--gamma", "0.1", "--seed", "3"]) == 0
    data = json.loads(noisy.read_text())
    assert data["info"]["box_noise"]["gamma"] == 0.1 and all("clean_bbox" in a for a in data["annotations"])
    capsys.readouterr()
    assert main(["quality", "--noisy", str(noisy), "--clean", str(clean), "--json"]) == 0
    quality = json.loads(capsys.readouterr().out)
    assert 0.5 < quality["mean_iou"] < 0.95 and quality["unmatched"] == 0


def test_eval_prints_the_twelve_statistics(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = world / "annotations/instances_train.json"
    anns = json.loads(gt.read_text())["annotations"]
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in anns]  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    capsys.readouterr()
    assert main(["eval", "--gt", str(gt), "--results", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(STAT_NAMES)
    assert float(lines[0].split()[1]) == pytest.approx(1.0)


def test_viz_draws_the_result_file(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = world / "annotations/instances_train.json"
    anns = json.loads(gt.read_text())["annotations"]
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.8}
               for a in anns]  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    capsys.readouterr()
    argv = ["viz", "--gt", str(gt), "--images", str(world / "train"), "--results", str(path), "--out",
            str(tmp_path / "viz"), "--num", "2"]  # fmt: skip
    assert main(argv) == 0
    written = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert [p.name for p in written] == ["000000000001.png", "000000000002.png"]
    drawn = np.asarray(Image.open(written[0]).convert("RGB"))
    plain = np.asarray(Image.open(world / "train" / "000000000001.jpg").convert("RGB"))
    assert drawn.shape == plain.shape and (np.abs(drawn.astype(int) - plain).max(axis=2) > 100).sum() > 50


def test_noise_copies_invalid_boxes_by_default(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((world / "annotations/instances_train.json").read_text())
    data["annotations"][0]["bbox"][3] = 0  # zero height, as annotation 918 of COCO train2017
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    out = tmp_path / "x.json"
    assert main(["noise", "--in", str(broken), "--out", str(out), "--gamma", "0.1"]) == 0
    assert "copied unchanged: 0 crowd, 1 invalid (ids 1)" in capsys.readouterr().out
    written = json.loads(out.read_text())["annotations"]
    assert written[0]["bbox"] == data["annotations"][0]["bbox"] == written[0]["clean_bbox"]
    assert len(written) == len(data["annotations"])

    argv = ["noise", "--in", str(broken), "--out", str(out), "--gamma", "0.1", "--invalid-boxes"]
    assert main([*argv, "error"]) == 2
    assert "annotation id 1" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="left out 1 annotation"):
        assert main([*argv, "skip"]) == 0
    written = json.loads(out.read_text())["annotations"]
    assert [a["id"] for a in written] == [a["id"] for a in data["annotations"][1:]]


def test_other_commands_report_broken_input(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((world / "annotations/instances_train.json").read_text())
    data["annotations"][0]["bbox"][2] = 0
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    assert main(["quality", "--noisy", str(broken), "--clean", str(broken)]) == 2
    assert "annotation id 1" in capsys.readouterr().err


def test_console_script_help() -> None:
    done = subprocess.run([sys.executable, "-m", "vislite_detection.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("noise", "quality", "eval", "viz", "world"):
        assert command in done.stdout
