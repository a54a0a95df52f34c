"""Task commands name their job after themselves and list the shared config groups in ``--help``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

COMMANDS = {
    "vislite_common.engine.hydra_main": "vislite-train",
    "vislite_detection.train": "vislite-detection",
    "vislite_pretrain.train": "vislite-pretrain",
    "vislite_segmentation.train": "vislite-segmentation",
    "vislite_tracking.train": "vislite-tracking",
}


def _run(module: str, *args: str) -> str:
    code = f"import sys; sys.argv[0] = 'cmd'; from {module} import main; main()"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize(("module", "command"), COMMANDS.items())
def test_help_lists_shared_groups_under_the_command_name(module: str, command: str) -> None:
    if importlib.util.find_spec(module.split(".")[0]) is None:
        pytest.skip(f"{module.split('.')[0]} is not installed")
    text = _run(module, "--help")
    assert text.startswith(f"{command} is powered by Hydra")
    groups = dict(line.split(": ", 1) for line in text.split("== Config ==")[0].splitlines() if ": " in line)
    for group in ("trainer", "logger", "callbacks", "launcher", "paths", "debug"):
        assert group in groups, f"{command} --help does not list the shared group {group!r}"
    assert "ddp" in groups["trainer"] and "slurm" in groups["launcher"]


def test_job_is_named_after_the_command() -> None:
    hydra_cfg = _run("vislite_common.engine.hydra_main", "--cfg", "hydra")
    assert "  name: vislite-train" in hydra_cfg
    renamed = _run("vislite_common.engine.hydra_main", "--cfg", "hydra", "hydra.job.name=mine")
    assert "  name: mine" in renamed
