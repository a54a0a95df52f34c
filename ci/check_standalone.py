"""Standalone-install check: each package, installed alone (non-editable) on top of vislite-common, trains.

For every package named on the command line this creates a fresh virtualenv in a temporary directory,
makes the already-installed torch stack visible to it (a ``.pth`` file pointing at symlinks of just torch,
torchvision and their dependencies, so nothing vislite-related leaks in), ``pip install``s
``packages/common`` and the package from their folders, and runs the package's smoke command, read from
``[tool.vislite] smoke`` in its ``pyproject.toml``, in an empty working directory.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
SHARED_STACK = ("torch", "torchvision")


def _requirement_names(dist: md.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        if ";" in req and "extra ==" in req.split(";", 1)[1]:
            continue
        names.append(re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0])
    return names


def _closure(roots: tuple[str, ...]) -> list[md.Distribution]:
    """The installed distributions ``roots`` need, transitively."""
    seen: dict[str, md.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        todo.extend(_requirement_names(dist))
    return list(seen.values())


def link_torch_stack(target: Path) -> None:
    """Symlink the files of torch, torchvision and their dependencies into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for dist in _closure(SHARED_STACK):
        base = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src, dst = base / top, target / top
            if src.exists() and not dst.exists() and top != "bin":
                dst.symlink_to(src)


def smoke_command(package: str) -> str:
    """The package's smoke command from ``[tool.vislite] smoke`` in its pyproject.toml."""
    pyproject = ROOT / "packages" / package / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text())
    try:
        return config["tool"]["vislite"]["smoke"]
    except KeyError:
        raise SystemExit(f"{pyproject}: add a [tool.vislite] smoke = '...' command for the standalone check") from None


def check(package: str, work: Path) -> float:
    """Install ``package`` alone into a fresh venv under ``work`` and run its smoke command; return seconds taken."""
    start = time.time()
    venv = work / f"venv-{package}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "vislite-torch-stack.pth").write_text(str(work / "torch-stack") + "\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    folders = [str(ROOT / "packages" / "common")]
    if package != "common":
        folders.append(str(ROOT / "packages" / package))
    subprocess.run([*pip, *folders], check=True)
    run_dir = work / f"run-{package}"
    run_dir.mkdir()
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, VISLITE_DATA_DIR=str(run_dir / "data"))
    env.pop("PYTHONPATH", None)
    command = smoke_command(package)
    print(f"== standalone {package}: {command}", flush=True)
    subprocess.run(shlex.split(command), cwd=run_dir, env=env, check=True)
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+", help="package folder names under packages/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vislite-standalone-") as tmp:
        work = Path(tmp)
        link_torch_stack(work / "torch-stack")
        for package in args.packages:
            seconds = check(package, work)
            print(f"== standalone {package}: OK ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
