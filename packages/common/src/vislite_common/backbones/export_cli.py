"""``vislite-export-backbone CHECKPOINT --out DIR``: any checkpoint vislite reads -> ``backbone.safetensors`` +
``backbone.json`` (the backbone contract), which every package then takes as ``backbone.init=DIR/backbone.json``.

* A Lightning checkpoint of a vislite pre-training run (``<run>/checkpoints/*.ckpt`` beside ``<run>/config.yaml``):
  the run's module is rebuilt from its config, the checkpoint loaded strictly, and the module's
  ``backbone_to_export()`` written, exactly as the end of that run writes it.
* Any other file (released MAE-Lite, MoCo-v3, D²-MAE or timm weights, a Lightning checkpoint without its run
  folder): the encoder is found in it (:func:`~vislite_common.backbones.encoder_weights.encoder_state_dict`) and
  loaded strictly into ``--name`` (default ``vislite_vit_tiny``) built with ``--kwargs``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from torch import nn

from vislite_common.backbones.manifest import write_backbone
from vislite_common.backbones.registry import create_backbone
from vislite_common.checkpoint import CheckpointError, adapt_state_dict_to_model, load_into, safe_load

HEADLESS = {"num_classes": 0}


def run_config(checkpoint: Path) -> Path | None:
    """``<run>/config.yaml`` for a checkpoint saved under ``<run>/checkpoints/``, when it exists."""
    candidate = checkpoint.resolve().parent.parent / "config.yaml"
    return candidate if checkpoint.resolve().parent.name == "checkpoints" and candidate.is_file() else None


def export_from_run(checkpoint: Path, config_path: Path, out: Path) -> Path:
    """Rebuild the run's LightningModule from ``config_path``, load ``checkpoint`` and write its backbone."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(config_path)
    if "model" not in cfg:
        raise ValueError(f"{config_path} has no `model` section: not a vislite run configuration")
    module = instantiate(cfg.model, _convert_="all")
    export = getattr(module, "backbone_to_export", None)
    if not callable(export):
        raise ValueError(
            f"{config_path}: a {type(module).__name__} run has no backbone to export (only pre-training modules do); "
            "pass --name to read the file as plain encoder weights instead"
        )
    state = safe_load(checkpoint).get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{checkpoint} has no Lightning `state_dict`")
    load_into(module, state)
    input_size = OmegaConf.select(cfg, "data.input_size", default=None)
    method = str(getattr(module, "backbone_method", type(module).__name__))
    return write_backbone(export(), out, method=method, checkpoint=checkpoint,
                          input_size=int(input_size) if isinstance(input_size, int) else None)


def export_from_weights(checkpoint: Path, out: Path, *, name: str, kwargs: dict[str, Any], method: str) -> Path:
    """Find the encoder in any weights file, load it strictly into ``name(**kwargs)`` and write it."""
    from vislite_common.backbones.encoder_weights import encoder_state_dict

    model: nn.Module = create_backbone(name, **{**HEADLESS, **kwargs})
    state = adapt_state_dict_to_model(encoder_state_dict(safe_load(checkpoint)), model)
    load_into(model, state, allow_missing=("fc_norm.",))
    return write_backbone(model, out, method=method, checkpoint=checkpoint)


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``vislite-export-backbone``."""
    parser = argparse.ArgumentParser(prog="vislite-export-backbone", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a .ckpt / .pth / .safetensors file vislite reads")
    parser.add_argument("--out", type=Path, required=True, help="folder for backbone.safetensors + backbone.json")
    parser.add_argument("--name", help="backbone to load plain weights into (default vislite_vit_tiny); "
                        "forces the plain-weights reading even for a run's checkpoint")
    parser.add_argument("--kwargs", default="{}", help='JSON keyword arguments for the backbone: {"img_size": 64}')
    parser.add_argument("--method", default="released", help="source method recorded in the manifest (plain weights)")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {args.checkpoint} does not exist")
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as error:
        parser.error(f"--kwargs is not JSON: {error}")
    if not isinstance(kwargs, dict):
        parser.error(f"--kwargs must be a JSON object, got {args.kwargs}")
    config = None if args.name else run_config(args.checkpoint)
    if config is not None:
        manifest = export_from_run(args.checkpoint, config, args.out)
    else:
        manifest = export_from_weights(
            args.checkpoint, args.out, name=args.name or "vislite_vit_tiny", kwargs=kwargs, method=args.method
        )
    print(f"wrote {manifest} (weights: {manifest.parent / json.loads(manifest.read_text())['weights']})")
    print(f"use it with: backbone.init={manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
