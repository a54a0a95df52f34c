"""Deterministic file writers and the idempotent "generate once into a root" protocol with its manifest.

Every generated root holds ``world_manifest.json``: task, generator version, parameters and the size and sha256 of
every file. ``generate_once`` skips the work when a complete manifest with the same parameters is present and its
files all match their sizes and checksums; otherwise it regenerates a root it wrote before for the same task
(different parameters, an interrupted run, a changed or missing file), replacing or removing only the files its
manifest lists, never a file someone else put there; and it refuses to write into a non-empty directory it did
not create, that holds another task's world, or where a world file would overwrite a foreign one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
MANIFEST = "world_manifest.json"
STAGING_PREFIX = ".world-staging-"
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


def verify(root: Path, manifest: dict[str, Any]) -> list[str]:
    """The files of ``manifest`` that are missing under ``root`` or whose size or sha256 differs from it."""
    bad = []
    for rel, info in manifest.get("files", {}).items():
        path = root / rel
        same_size = path.is_file() and path.stat().st_size == info.get("bytes")
        if not same_size or (info.get("sha256") and _sha256(path) != info["sha256"]):
            bad.append(rel)
    return bad


def is_complete(root: Path, task: str, params: dict[str, Any]) -> bool:
    """Whether ``root`` already holds a complete ``task`` world made with ``params``: every listed file present
    with the size and sha256 the manifest records."""
    manifest = _read_manifest(root)
    if not manifest or not manifest.get("complete"):
        return False
    if manifest.get("task") != task or manifest.get("version") != GENERATOR_VERSION:
        return False
    if manifest.get("params") != _normalise(params):
        return False
    bad = verify(root, manifest)
    if bad:
        shown = ", ".join(bad[:5]) + (f" ... ({len(bad)} in all)" if len(bad) > 5 else "")
        log.warning("world %s: file(s) missing or changed since generation (size/sha256): %s; regenerating the "
                    "world's own files", root, shown)
    return not bad


def _prune_empty(root: Path, folders: Iterable[Path]) -> None:
    """Remove ``folders`` (and their parents up to ``root``, exclusive) that are now empty."""
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        while folder != root and root in folder.parents and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def _unlisted(root: Path, owned: Iterable[str], listed: set[str]) -> list[str]:
    """Files under the ``owned`` entries of ``root`` that the world does not list: the user's, left alone."""
    extra = []
    for name in owned:
        path = root / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        extra += [p.relative_to(root).as_posix() for p in candidates if p.relative_to(root).as_posix() not in listed]
    return extra


def generate_once(
    root: Path | str,
    task: str,
    params: dict[str, Any],
    owned: Iterable[str],
    generate: Callable[[Path], None],
) -> Path:
    """Run ``generate`` unless ``root`` already holds the same world; write the manifest; return ``root``.

    ``owned`` names the top-level entries of ``root`` that ``generate`` writes. ``generate`` runs in a staging
    folder inside ``root``; its files are then moved into place. Only files this module wrote (those listed by the
    previous manifest) are ever replaced or removed: a file someone else put among the world's folders stays where
    it is (a warning names it), and one that would be overwritten by a world file of the same name makes it refuse.
    Raises FileExistsError when ``root`` is a non-empty directory without a manifest (not made by this module),
    with another task's manifest, or holding a foreign file where a world file goes.
    """
    root = Path(root)
    owned = tuple(owned)
    if is_complete(root, task, params):
        return root
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path {root} exists and is not a directory")
    previous: dict[str, Any] = {}
    if root.is_dir() and any(root.iterdir()):
        if not (root / MANIFEST).exists():
            raise FileExistsError(
                f"output directory {root} is not empty and has no {MANIFEST}, so it was not made by make_{task}; "
                "refusing to overwrite it - choose a new or empty directory"
            )
        previous = _read_manifest(root) or {}
        if previous.get("task", task) != task:
            raise FileExistsError(
                f"output directory {root} holds a {previous.get('task')!r} world; refusing to replace it with "
                f"{task!r} - choose another directory"
            )
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(STAGING_PREFIX + "*"):  # left by an interrupted run of this module
        shutil.rmtree(stale, ignore_errors=True)
    header = {"task": task, "version": GENERATOR_VERSION, "params": _normalise(params)}
    old_files = set(previous.get("files", {}))
    legacy_interrupted = bool(previous) and not previous.get("complete") and "files" not in previous
    if not previous:
        write_json(root / MANIFEST, {**header, "complete": False})
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    try:
        generate(staging)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        listing = {p.relative_to(staging).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files}
        foreign = [rel for rel in listing if (root / rel).exists() and rel not in old_files]
        if foreign and not legacy_interrupted:
            shown = ", ".join(foreign[:5]) + (f" ... ({len(foreign)} in all)" if len(foreign) > 5 else "")
            raise FileExistsError(
                f"output directory {root} holds file(s) the world did not write where world files go: {shown}; "
                f"refusing to overwrite them - move them away or choose another directory"
            )
        gone = [root / rel for rel in sorted(old_files - set(listing))]
        for path in gone:  # this module's own files that the new parameters no longer produce
            path.unlink(missing_ok=True)
        _prune_empty(root, (p.parent for p in gone))
        write_json(root / MANIFEST, {**header, "complete": False, "files": listing})  # the files about to be ours
        for rel in listing:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_json(root / MANIFEST, {**header, "complete": True, "files": listing})
    extra = _unlisted(root, owned, set(listing))
    if extra:
        shown = ", ".join(extra[:5]) + (f" ... ({len(extra)} in all)" if len(extra) > 5 else "")
        log.warning("world %s: left in place %d file(s) it did not write: %s", root, len(extra), shown)
    return root
