"""``vislite-track-eval`` end to end on tiny datasets and results folders written here."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from vislite_common.data.world import make_got10k
from vislite_tracking.data import load_sequences
from vislite_tracking.eval import FirstFrameTracker, run_ope
from vislite_tracking.eval.cli import main

N = 8
GT = "10,10,20,20\n" * N


@pytest.fixture
def otb(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An OTB root with sequences Alpha and Beta, a perfect tracker's results and an offset tracker's results."""
    root = tmp_path / "otb"
    for name in ("Alpha", "Beta"):
        (root / name / "img").mkdir(parents=True)
        for i in range(1, N + 1):
            (root / name / "img" / f"{i:04d}.jpg").touch()
        (root / name / "groundtruth_rect.txt").write_text(GT)
    perfect, offset = tmp_path / "perfect", tmp_path / "offset"
    for folder, line in ((perfect, "10\t10\t20\t20\n"), (offset, "16.5\t10\t20\t20\n")):
        folder.mkdir()
        for name in ("Alpha", "Beta"):
            (folder / f"{name}.txt").write_text(line * N)
            (folder / f"{name}_time.txt").write_text("0.02\n" * N)
    return root, perfect, offset


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--convention" in capsys.readouterr().out


def test_single_tracker_json_table_and_plot(otb: tuple[Path, Path, Path], tmp_path: Path, capsys) -> None:
    root, perfect, _ = otb
    out_json, out_png = tmp_path / "scores.json", tmp_path / "curves.png"
    main(["--dataset", "otb", "--root", str(root), "--results", str(perfect), "--json", str(out_json),
          "--plot", str(out_png), "--per-sequence"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "pytracking convention" in printed and "95.24" in printed and "Alpha" in printed
    scores = json.loads(out_json.read_text())
    assert scores["auc"] == pytest.approx(100 * 20 / 21) and scores["precision"] == pytest.approx(100.0)
    assert scores["fps"] == pytest.approx(50.0) and scores["convention"] == "pytracking"
    assert sorted(scores["sequences"]) == ["Alpha", "Beta"]
    assert matplotlib.image.imread(out_png).ndim == 3


def test_two_trackers_under_both_conventions(otb: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, perfect, offset = otb
    replaced = 100 * ((N - 1) * 11 + 20) / (21 * N)  # IoU 0.509, frame 1 replaced by the ground truth
    expected = {  # convention: (auc, norm_precision) of the offset tracker
        "pytracking": (replaced, 100 / N),
        "got10k": (replaced, 100 * ((N - 1) * 18 + 51) / (51 * N)),
        "pysot": (100 * 11 / 21, 0.0),  # pysot scores frame 1 as predicted
    }
    for convention, (auc, norm) in expected.items():
        out = tmp_path / f"{convention}.json"
        main(["--dataset", "otb", "--root", str(root), "--results", str(perfect), "--results", str(offset),
              "--name", "A", "--name", "B", "--convention", convention, "--json", str(out)])  # fmt: skip
        scores = json.loads(out.read_text())
        assert sorted(scores) == ["A", "B"]
        assert scores["B"]["auc"] == pytest.approx(auc)
        assert scores["B"]["norm_precision"] == pytest.approx(norm)
        assert scores["B"]["convention"] == convention
    with pytest.raises(SystemExit, match="1 --name for 2 --results"):
        main(["--dataset", "otb", "--root", str(root), "--results", str(perfect), "--results", str(offset),
              "--name", "A"])  # fmt: skip


def test_got10k_reports_ao_and_sr(tmp_path: Path) -> None:
    root = make_got10k(tmp_path / "got10k", num_train=1, num_val=2, num_frames=N, frame_size=(64, 48))
    results = run_ope(FirstFrameTracker, load_sequences("got10k", root), tmp_path / "ff", progress=False)
    out = tmp_path / "got.json"
    main(["--dataset", "got10k", "--root", str(root), "--results", str(results), "--convention", "got10k",
          "--json", str(out)])  # fmt: skip
    scores = json.loads(out.read_text())
    assert {"ao", "sr50", "sr75", "auc", "precision", "norm_precision"} <= set(scores)
    assert 0.0 <= scores["sr75"] <= scores["sr50"] <= 100.0
    per = scores["sequences"]
    assert sorted(per) == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    assert all(np.isfinite(v["ao"]) for v in per.values())
