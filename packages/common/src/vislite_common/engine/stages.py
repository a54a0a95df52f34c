"""Running a package's Hydra entry point as one stage of a larger pipeline (demos, studies)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def run_stage(
    entry_module: str, name: str, overrides: list[str], out: Path, data_dir: Path, extra: list[str] = ()
) -> dict[str, float]:
    """Run ``python -m <entry_module> <overrides> <extra>`` into ``out/name`` (data under ``data_dir``) and return
    the metrics it wrote to ``metrics.json``. The command is printed first, so each stage can be rerun by hand."""
    run_dir = out / name
    command = [
        sys.executable,
        "-m",
        entry_module,
        *overrides,
        f"hydra.run.dir={run_dir}",
        f"paths.data_dir={data_dir}",
        *extra,
    ]
    print(f"\n=== {name}: {entry_module} {' '.join([*overrides, *extra])}", flush=True)
    start = time.time()
    subprocess.run(command, check=True)
    print(f"=== {name} took {time.time() - start:.0f} s", flush=True)
    return json.loads((run_dir / "metrics.json").read_text())


def last_checkpoint(out: Path, name: str) -> Path:
    """The ``last.ckpt`` a stage named ``name`` writes under ``out``."""
    return out / name / "checkpoints" / "last.ckpt"
