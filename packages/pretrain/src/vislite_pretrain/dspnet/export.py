"""Per-width export of a slimmable backbone (``backbone.safetensors`` + ``backbone.json``) and loading it back.

Layout: ``<dir>/width_<w>/backbone.safetensors`` (a plain state dict of the slimmed network) and
``backbone.json``::

    {"format": 1, "name": "vislite_slim_resnet50", "kwargs": {"width_mult": 0.5, "num_classes": 0},
     "class": "...WidthResNet",
     "width_mult": 0.5, "feature_dim": 1024, "num_parameters": 5892640, "weights": "backbone.safetensors",
     "source": {"method": "dspnet", ...}}

``name`` is the timm name (``create_backbone(name, pretrained=<weights>, **kwargs)`` loads it in every package);
networks without one (MobileNetV2) are rebuilt from ``class`` and ``kwargs``.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from vislite_common.backbones.registry import create_backbone
from vislite_common.backbones.slimmable import check_width_state, slim
from vislite_common.checkpoint import export_backbone, extract_state_dict, safe_load
from vislite_common.fileio import atomic_write_text

MANIFEST = "backbone.json"
WEIGHTS = "backbone.safetensors"
_CLASS_PREFIX = "vislite_common.backbones."


def width_dir(root: str | os.PathLike, width_mult: float) -> Path:
    """``root/width_<w>`` (``width_0.5``)."""
    return Path(root) / f"width_{width_mult:g}"


def _describe(network: nn.Module, width_mult: float) -> dict[str, Any]:
    cls = type(network)
    layout = getattr(network, "layout", None)
    name = (getattr(network, "pretrained_cfg", None) or {}).get("architecture")
    kwargs: dict[str, Any] = {"width_mult": width_mult}
    if name is not None:
        kwargs["num_classes"] = 0
    elif layout is not None:
        kwargs.update(json.loads(json.dumps(layout)))  # tuples -> lists
    return {
        "format": 1,
        "name": name,
        "kwargs": kwargs,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "width_mult": width_mult,
        "feature_dim": int(network.num_features),
        "num_parameters": sum(p.numel() for p in network.parameters()),
        "weights": WEIGHTS,
    }


def export_widths(
    backbone: nn.Module,
    root: str | os.PathLike,
    *,
    widths: list[float] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[float, Path]:
    """Slim ``backbone`` to each of ``widths`` (all its widths by default) and write each under
    :func:`width_dir`; returns ``{width: manifest path}``."""
    written: dict[float, Path] = {}
    for width in widths if widths is not None else list(backbone.width_mults):
        small = slim(backbone, width)
        folder = width_dir(root, width)
        folder.mkdir(parents=True, exist_ok=True)
        export_backbone(small, folder / WEIGHTS)
        manifest = {**_describe(small, float(width)), "source": dict(source or {})}
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        written[float(width)] = folder / MANIFEST
    return written


def _manifest_path(path: Path) -> Path:
    if path.is_dir():
        path = path / MANIFEST
    elif path.suffix != ".json":
        path = path.with_name(MANIFEST)
    if not path.is_file():
        raise FileNotFoundError(f"no backbone manifest at {path}; expected <dir>/{MANIFEST} beside {WEIGHTS}")
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of an exported width (``path``: the ``backbone.json``, its folder, or the weights beside it)."""
    manifest_path = _manifest_path(Path(path))
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_path} is not valid JSON: {error}") from error
    for field in ("kwargs", "class", "width_mult", "weights"):
        if field not in manifest:
            raise ValueError(f"{manifest_path}: field {field!r} is missing (expected an exported backbone manifest)")
    manifest["_dir"] = str(manifest_path.parent)
    return manifest


def load_slim_backbone(path: str | os.PathLike, *, width_mult: float | None = None) -> nn.Module:
    """The ordinary network of one exported width, weights loaded.

    ``width_mult``, when given, must be the exported width: a checkpoint of another width is refused with a
    ``ValueError`` naming both widths (and a weights file whose shapes do not match its manifest, likewise).
    """
    manifest = read_manifest(path)
    exported = float(manifest["width_mult"])
    where = Path(manifest["_dir"]) / MANIFEST
    if width_mult is not None and abs(float(width_mult) - exported) > 1e-9:
        raise ValueError(f"{where} holds width {exported:g}, but width {float(width_mult):g} was asked for")
    weights = Path(manifest["_dir"]) / manifest["weights"]
    if not weights.is_file():
        raise FileNotFoundError(f"{where}: weights file {weights} does not exist")
    kwargs = dict(manifest["kwargs"])
    if manifest.get("name"):
        model = create_backbone(manifest["name"], **kwargs)
    else:
        class_path = str(manifest["class"])
        if not class_path.startswith(_CLASS_PREFIX):
            raise ValueError(f"{where}: class {class_path!r} is not a vislite backbone ({_CLASS_PREFIX}*)")
        module_name, _, attr = class_path.rpartition(".")
        model = getattr(importlib.import_module(module_name), attr)(**kwargs)
    state = extract_state_dict(safe_load(weights))
    check_width_state(state, model, source=str(weights))
    model.load_state_dict(state, strict=True)
    return model
