"""Deterministic file writers and the idempotent "generate once into a root" protocol with its manifest.

Every generated root holds ``world_manifest.json``: task, generator version, parameters and the size and sha256 of
every file. ``generate_once`` skips the work when a complete manifest with the same parameters is present and its
files are all there; it regenerates a root it wrote before for the same task (different parameters or an
interrupted run); and it refuses to write into a non-empty directory it did not create or that holds another
task's world.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

GENERATOR_VERSION = 1
MANIFEST = "world_manifest.json"
JPEG_QUALITY = 90


def save_jpeg(path: Path, image: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB ``image`` as a JPEG (fixed quality, 4:4:4, no metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path, format="JPEG", quality=JPEG_QUALITY, subsampling=0)


def save_png(path: Path, label: np.ndarray) -> None:
    """Write (H, W) uint8 ``label`` as a single-channel ("L") PNG."""
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f"label map for {path} must be (H, W) uint8, got {label.shape} {label.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(label)).save(path, format="PNG")


def to_json(obj: Any) -> str:
    """Stable JSON text: sorted keys, compact separators, trailing newline."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as stable JSON (see ``to_json``)."""
    write_text(path, to_json(obj))


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` with "\\n" line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _normalise(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(to_json(params))


def is_complete(root: Path, task: str, params: dict[str, Any]) -> bool:
    """Whether ``root`` already holds a complete ``task`` world made with ``params`` (files present, sizes match)."""
    manifest = _read_manifest(root)
    if not manifest or not manifest.get("complete"):
        return False
    if manifest.get("task") != task or manifest.get("version") != GENERATOR_VERSION:
        return False
    if manifest.get("params") != _normalise(params):
        return False
    for rel, info in manifest.get("files", {}).items():
        path = root / rel
        if not path.is_file() or path.stat().st_size != info.get("bytes"):
            return False
    return True


def _clear(root: Path, owned: Iterable[str]) -> None:
    """Remove what an earlier run wrote in ``root``: its listed files and the ``owned`` top-level entries."""
    manifest = _read_manifest(root) or {}
    for rel in manifest.get("files", {}):
        (root / rel).unlink(missing_ok=True)
    for name in owned:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):  # prune emptied folders
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def generate_once(
    root: Path | str,
    task: str,
    params: dict[str, Any],
    owned: Iterable[str],
    generate: Callable[[Path], None],
) -> Path:
    """Run ``generate(root)`` unless ``root`` already holds the same world; write the manifest; return ``root``.

    ``owned`` names the top-level entries of ``root`` that ``generate`` writes (removed before regenerating).
    Raises FileExistsError when ``root`` is a non-empty directory without a manifest (not made by this module)
    or with another task's manifest.
    """
    root = Path(root)
    if is_complete(root, task, params):
        return root
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path {root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not (root / MANIFEST).exists():
            raise FileExistsError(
                f"output directory {root} is not empty and has no {MANIFEST}, so it was not made by make_{task}; "
                "refusing to overwrite it - choose a new or empty directory"
            )
        previous = (_read_manifest(root) or {}).get("task", task)
        if previous != task:
            raise FileExistsError(
                f"output directory {root} holds a {previous!r} world; refusing to replace it with {task!r} - "
                "choose another directory"
            )
        _clear(root, [*owned, MANIFEST])
    root.mkdir(parents=True, exist_ok=True)
    header = {"task": task, "version": GENERATOR_VERSION, "params": _normalise(params)}
    write_json(root / MANIFEST, {**header, "complete": False})
    generate(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    listing = {p.relative_to(root).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files}
    write_json(root / MANIFEST, {**header, "complete": True, "files": listing})
    return root
