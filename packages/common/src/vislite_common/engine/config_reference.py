"""``python -m vislite_common.engine.config_reference > docs/configs.md``: every config group and option of the
installed vislite packages, with the first comment line of each file as its description."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGES = ("vislite_common", "vislite_pretrain", "vislite_detection", "vislite_segmentation", "vislite_tracking")


def describe(path: Path) -> str:
    """The first ``#`` comment of a YAML config (``@package`` directives skipped), or an empty string."""
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#") and "@package" not in text:
            return text.lstrip("# ").rstrip()
        if text and not text.startswith("#"):
            break
    return ""


def config_dir(package: str) -> Path | None:
    """The ``configs/`` folder shipped inside ``package`` (``None`` when the package is not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "configs"


def reference(packages: tuple[str, ...] = PACKAGES) -> str:
    """The markdown reference: one section per package, one table per group."""
    lines = [
        "# Config reference",
        "",
        "Every Hydra config group each package ships, and every option in it, with the description at the top of its",
        "file. The shared groups (trainer, callbacks, logger, launcher, paths, hydra, debug) live in vislite-common",
        "and are on every command's search path. Regenerate with",
        "`python -m vislite_common.engine.config_reference > docs/configs.md`.",
    ]
    for package in packages:
        root = config_dir(package)
        if root is None or not root.is_dir():
            continue
        command = "vislite-train" if package == "vislite_common" else package.replace("_", "-")
        lines += ["", f"## {package.replace('_', '-')} (`{command}`)", ""]
        primary = root / "train.yaml"
        if primary.is_file():
            lines += [f"Primary config `train.yaml`: {describe(primary)}", ""]
        for group in sorted(p for p in root.rglob("*") if p.is_dir() and any(p.glob("*.yaml"))):
            name = group.relative_to(root).as_posix()
            lines += [f"### `{name}`", "", "| option | description |", "|---|---|"]
            for option in sorted(group.glob("*.yaml")):
                lines.append(f"| `{name}={option.stem}` | {describe(option).replace('|', '/')} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())
