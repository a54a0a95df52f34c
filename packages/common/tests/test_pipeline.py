"""``vislite-pipeline``: the pipeline files at the repository root load, and the smoke pipeline runs end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vislite_common.engine.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "hydra_configs" / "pipelines"
PACKAGES = ("vislite_pretrain", "vislite_detection", "vislite_segmentation", "vislite_tracking")

pytestmark = pytest.mark.skipif(not PIPELINES.is_dir(), reason="needs the repository's hydra_configs/")


@pytest.mark.parametrize("name", ["world", "smoke"])
def test_pipeline_files_load(name: str) -> None:
    pipeline = load_pipeline(PIPELINES / f"{name}.yaml")
    assert pipeline.pretrain.name == "mae_lite"
    assert [s.name for s in pipeline.stages] == ["classification", "detection", "segmentation", "tracking"]


def test_bad_pipeline_files_name_the_entry(tmp_path: Path) -> None:
    data = yaml.safe_load((PIPELINES / "smoke.yaml").read_text())
    del data["stages"][1]["metric"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"broken\.yaml: stages\[1\]: `metric` must be a non-empty string"):
        load_pipeline(path)
    with pytest.raises(FileNotFoundError, match="no pipeline nowhere"):
        load_pipeline("nowhere")


@pytest.mark.slow
@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in PACKAGES), reason="needs every package")
def test_smoke_pipeline_hands_one_backbone_to_every_package(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "vislite_common.engine.pipeline", "smoke", "--out", str(tmp_path / "out"),
           "--data-dir", str(tmp_path / "data")]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Pipeline smoke: mae_lite backbone" in result.stdout
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [row["stage"] for row in rows] == ["classification", "detection", "segmentation", "tracking"]
    backbone = tmp_path / "out" / "mae_lite" / "backbone.safetensors"
    for row in rows:  # each pre-trained run was given the exported backbone
        config = yaml.safe_load((tmp_path / "out" / f"{row['stage']}_pretrained" / "config.yaml").read_text())
        assert str(backbone) in json.dumps(config), row["stage"]


SEARCHES = {
    "classify_optuna": ("vislite_common", []),
    "pretrain_optuna": ("vislite_pretrain", []),
    "detection_optuna": ("vislite_detection", []),
    "segmentation_optuna": ("vislite_segmentation", []),
    "tracking_optuna": ("vislite_tracking", []),
}


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_hparams_search_names_keys_of_its_package_config(name: str, tmp_path: Path) -> None:
    """Every parameter an Optuna search varies, and the metric it optimises, exist in the package's config."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from vislite_common.engine.compose import compose_config

    package, overrides = SEARCHES[name]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    search = yaml.safe_load((ROOT / "hydra_configs" / "hparams_search" / f"{name}.yaml").read_text())
    cfg = compose_config(f"{package}.configs", overrides, output_dir=tmp_path)
    GlobalHydra.instance().clear()
    for key in search["hydra"]["sweeper"]["params"]:
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", f"{name}: {key} is not in {package}"
    assert search["optimized_metric"].split("/")[0] in ("val", "test")


@pytest.mark.slow
def test_optuna_search_runs_two_trials(world_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs hydra-optuna-sweeper")
    cmd = [sys.executable, "-m", "vislite_common.engine.hydra_main", "-m", "--config-dir", str(ROOT / "hydra_configs"),
           "+hparams_search=classify_optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1",
           "debug=fast_dev_run", "data.train_per_class=6", "data.val_per_class=3", "data.image_size=32",
           "data.input_size=32", "data.batch_size=8", f"paths.data_dir={world_dir}"]
    result = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Best parameters" in result.stdout + result.stderr
