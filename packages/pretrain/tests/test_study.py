"""``make study``: the planned runs (order, fractions, teacher wiring) and the table made from their outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from vislite_common.engine.compose import compose_config
from vislite_pretrain.study.plan import FRACTIONS, downstream_stages, finetune_name, pretrain_stages
from vislite_pretrain.study.plots import accuracy_vs_fraction
from vislite_pretrain.study.run import summarise, table


def test_teacher_comes_first_and_feeds_d_mae(tmp_path: Path) -> None:
    stages = pretrain_stages(tmp_path)
    assert [s.name for s in stages] == ["teacher", "mae_lite", "mocov3", "d_mae"]
    d_mae = dict(o.split("=", 1) for o in stages[-1].overrides)
    assert d_mae["model.model.teacher.path"] == str(tmp_path / "teacher" / "checkpoints" / "last.ckpt")
    mae = dict(o.split("=", 1) for o in stages[1].overrides)
    assert d_mae["trainer.max_epochs"] == mae["trainer.max_epochs"] == "40"  # the two MIM runs get equal budgets
    for stage in stages:  # every run reads the same 64 px world
        assert "data.image_size=64" in stage.overrides


def test_downstream_runs_cover_every_init_and_fraction(tmp_path: Path) -> None:
    stages = downstream_stages(tmp_path)
    names = [s.name for s in stages]
    assert len(names) == 4 * len(FRACTIONS) + 3 and len(set(names)) == len(names)
    assert finetune_name("mae_lite", 0.1) == "finetune_mae_lite_10pct" and "linprobe_d_mae" in names
    scratch = next(s for s in stages if s.name == finetune_name("scratch", 0.3))
    assert "model.model.init=null" in scratch.overrides and "data.train_fraction=0.3" in scratch.overrides
    quick = downstream_stages(tmp_path, scale=0.05)
    assert all("model.scheduler.warmup_epochs=0" in s.overrides for s in quick)


def test_stage_overrides_compose(tmp_path: Path) -> None:
    """Each planned run is a valid ``vislite-pretrain`` command line."""
    for stage in [*pretrain_stages(tmp_path), *downstream_stages(tmp_path)]:
        cfg = compose_config(
            "vislite_pretrain.configs",
            [*stage.overrides, f"paths.data_dir={tmp_path}"],
            output_dir=tmp_path / stage.name,
        )
        GlobalHydra.instance().clear()
        assert cfg.data.image_size == 64
        if stage.name.startswith("finetune"):
            assert 0 < cfg.data.train_fraction <= 1


def _fake_outputs(out: Path, fractions: tuple[float, ...]) -> dict[str, dict[str, float]]:
    analysis = out / "analysis"
    analysis.mkdir(parents=True)
    labels = {"teacher": 0.0, "MAE-lite": 1.0, "MoCo-v3": 2.0, "D-MAE": 3.0}
    attention = {label: {"distance": [[10.0 + v, 12.0 + v]] * 3} for label, v in labels.items()}
    (analysis / "attention.json").write_text(json.dumps(attention))
    for label, v in labels.items():
        if label != "teacher":
            cka = [[0.1 * v * (i == j) for j in range(3)] for i in range(3)]
            (analysis / f"cka_teacher_vs_{label}.json").write_text(json.dumps({"cka": cka}))
    metrics = {}
    for k, init in enumerate(("scratch", "mae_lite", "mocov3", "d_mae")):
        for f in fractions:
            metrics[finetune_name(init, f)] = {"test/acc": 0.1 * k + f / 10}
        metrics[f"linprobe_{init}"] = {"test/acc": 0.05 * k}
    return metrics


def test_summary_and_table(tmp_path: Path) -> None:
    fractions = (0.1, 1.0)
    rows = summarise(tmp_path, _fake_outputs(tmp_path, fractions), fractions)
    assert rows["D-MAE"]["finetune"] == {"0.1": pytest.approx(0.31), "1.0": pytest.approx(0.4)}
    assert rows["MoCo-v3"]["cka_to_teacher"] == pytest.approx([0.2, 0.2, 0.2])
    assert rows["MAE-lite"]["attention_distance"] == [12.0, 12.0, 12.0]
    assert "linprobe" not in rows["scratch"] and rows["teacher"]["attention_distance"][-1] == 11.0
    lines = table(rows, fractions)
    d_mae = next(line for line in lines if line.strip().startswith("D-MAE"))
    assert "31.0%" in d_mae and "40.0%" in d_mae and "15.0%" in d_mae  # FT 10%, FT 100%, probe


def test_accuracy_plot(tmp_path: Path) -> None:
    path = accuracy_vs_fraction({"a": {0.1: 0.2, 1.0: 0.3}, "b": {0.1: 0.1, 1.0: 0.25}}, tmp_path / "acc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
