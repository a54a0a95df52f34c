"""The backbone contract: ``backbone.safetensors`` plus a ``backbone.json`` manifest, written once, read everywhere.

A pre-training run ends by writing both into its run directory (:class:`~vislite_common.lit.backbone_export.
BackboneExport`); ``vislite-export-backbone`` writes them from any checkpoint vislite reads. The manifest says how
to rebuild the network the weights belong to::

    {"format": 1, "name": "vislite_vit_tiny", "kwargs": {"img_size": 64, "num_classes": 0, ...},
     "weights": "backbone.safetensors", "input_size": 64, "num_parameters": 5526336,
     "source": {"method": "mae_lite", "checkpoint": "/runs/.../checkpoints/last.ckpt"}}

``create_backbone(pretrained=<backbone.json or its folder>)`` rebuilds it (keyword arguments given there override
the manifest's: a new ``num_classes``, a ``drop_path_rate``), so every package takes a backbone through one key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from vislite_common.fileio import atomic_write_text

MANIFEST = "backbone.json"
WEIGHTS = "backbone.safetensors"
FORMAT = 1
SPEC_ATTR = "vislite_spec"
"""Attribute :func:`~vislite_common.backbones.create_backbone` sets on what it builds: ``{"name", "kwargs"}``."""


class ManifestError(ValueError):
    """A ``backbone.json`` that cannot be used (missing fields, missing weights file, wrong format)."""


def backbone_spec(module: nn.Module) -> tuple[str, dict[str, Any]]:
    """The timm name and keyword arguments that rebuild ``module``.

    Modules built by ``create_backbone`` carry them; any other timm model gives its registered name with no
    arguments (its defaults).
    """
    spec = getattr(module, SPEC_ATTR, None)
    if spec is not None:
        return str(spec["name"]), dict(spec["kwargs"])
    name = (getattr(module, "pretrained_cfg", None) or {}).get("architecture")
    if not name:
        raise ValueError(
            f"cannot tell how to rebuild a {type(module).__name__}: build it with vislite_common.backbones."
            "create_backbone(name, ...) or pass name= and kwargs= explicitly"
        )
    return str(name), {}


def _jsonable(value: Any) -> Any:
    """Tuples as lists, everything else as JSON would have it (``TypeError`` naming the value otherwise)."""
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))


def write_backbone(
    module: nn.Module,
    out_dir: str | os.PathLike,
    *,
    method: str,
    checkpoint: str | os.PathLike | None = None,
    input_size: int | None = None,
    name: str | None = None,
    kwargs: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """Write ``module``'s weights (``backbone.safetensors``) and manifest (``backbone.json``) into ``out_dir``.

    ``name`` / ``kwargs`` default to :func:`backbone_spec`; ``drop`` lists weight-key prefixes left out. Both
    files are written atomically; returns the manifest's path.
    """
    from vislite_common.checkpoint import export_backbone

    spec_name, spec_kwargs = backbone_spec(module) if name is None else (name, {})
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    export_backbone(module, folder / WEIGHTS, drop=drop)
    manifest = {
        "format": FORMAT,
        "name": spec_name,
        "kwargs": _jsonable(spec_kwargs if kwargs is None else kwargs),
        "weights": WEIGHTS,
        "input_size": input_size,
        "num_parameters": int(sum(p.numel() for p in module.parameters())),
        "source": {"method": method, "checkpoint": None if checkpoint is None else str(checkpoint)},
    }
    path = folder / MANIFEST
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return path


def is_manifest(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a manifest: a ``.json`` file, or a folder holding ``backbone.json``."""
    path = Path(path)
    return path.suffix == ".json" or (path.is_dir() and (path / MANIFEST).is_file())


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest at ``path`` (a ``backbone.json`` or its folder), with ``weights`` made an absolute path.

    Raises :class:`ManifestError` naming the file and the field for anything unusable.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"backbone manifest {path} does not exist")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not a JSON backbone manifest ({error})") from error
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    for key, kind in (("name", str), ("weights", str), ("kwargs", dict)):
        if not isinstance(manifest.get(key), kind):
            raise ManifestError(f"{path}: field {key!r} must be a {kind.__name__}, got {manifest.get(key)!r}")
    if manifest.get("format", FORMAT) != FORMAT:
        raise ManifestError(f"{path}: format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    weights = Path(manifest["weights"])
    weights = weights if weights.is_absolute() else path.parent / weights
    if not weights.is_file():
        raise ManifestError(f"{path}: its weights file {weights} does not exist")
    return {**manifest, "weights": str(weights), "manifest": str(path)}
