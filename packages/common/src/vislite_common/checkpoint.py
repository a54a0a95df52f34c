"""Safe, portable checkpoints: atomic saves, ``weights_only`` loads, key remapping, pos-embed resizing, export."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from timm.layers import resample_abs_pos_embed
from torch import nn

from vislite_common.fileio import atomic_write

STATE_DICT_KEYS = ("state_dict", "model", "module", "model_ema", "state_dict_ema", "teacher", "net")
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used as asked (unsafe content, unknown layout, mismatched keys)."""


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename: ``path`` is never half-written."""
    atomic_write(path, lambda handle: torch.save(obj, handle))


def safe_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only).

    A file holding arbitrary pickled objects is refused with :class:`CheckpointError`: unpickling it could run
    code. ``.safetensors`` files load through the ``safetensors`` package when it is installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as error:
            raise CheckpointError(f"{path} is a .safetensors file; pip install safetensors to read it") from error
        return load_file(str(path), device=str(map_location))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refused to load {path}: it contains arbitrary Python objects, and unpickling them could run code. "
            f"If you trust its source, load it once with torch.load(..., weights_only=False) and re-save only the "
            f"tensors (e.g. model.state_dict()). Details: {str(error).splitlines()[0]}"
        ) from error


def extract_state_dict(checkpoint: Mapping[str, Any], keys: Iterable[str] = STATE_DICT_KEYS) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint container (Lightning ``state_dict``, MAE/DeiT ``model``, ...)."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"expected a dict checkpoint, got {type(checkpoint).__name__}")
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return dict(checkpoint)
    for key in keys:
        inner = checkpoint.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return dict(inner)
    raise CheckpointError(
        f"no state dict found in the checkpoint; top-level keys are {sorted(checkpoint)[:20]}, expected a flat "
        f"tensor dict or one under one of {list(keys)}"
    )


def remap_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    *,
    strip_prefixes: Iterable[str] = WRAPPER_PREFIXES,
    rename: Mapping[str, str] | Callable[[str], str | None] | None = None,
) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes (repeatedly, e.g. ``module.model.``) and rename keys.

    ``rename`` is a mapping of key prefixes (``{"encoder.": ""}``) or a function returning the new key or
    ``None`` to drop it.
    """
    prefixes = tuple(strip_prefixes)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new_key: str | None = key
        stripped = True
        while stripped:
            stripped = False
            for prefix in prefixes:
                if new_key.startswith(prefix):
                    new_key, stripped = new_key[len(prefix) :], True
        if callable(rename):
            new_key = rename(new_key)
        elif rename:
            for old, new in rename.items():
                if new_key.startswith(old):
                    new_key = new + new_key[len(old) :]
                    break
        if new_key is not None:
            out[new_key] = value
    return out


def resize_pos_embed(pos_embed: torch.Tensor, new_grid: tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    """Bicubic resize of a ViT position table ``[1, prefix + H*W, C]`` to ``new_grid`` (prefix tokens kept)."""
    return resample_abs_pos_embed(pos_embed, new_size=list(new_grid), num_prefix_tokens=num_prefix_tokens)


def adapt_state_dict_to_model(
    state_dict: Mapping[str, torch.Tensor], model: nn.Module, *, drop_mismatched: Iterable[str] = ()
) -> dict[str, torch.Tensor]:
    """Fit ``state_dict`` to ``model``: resize ``pos_embed`` to the model's grid; drop mismatched keys on request.

    ``drop_mismatched`` lists key prefixes (e.g. ``("head.",)``) whose tensors are dropped when their shape
    differs from the model's (a new classifier head); any other shape mismatch is kept and reported on load.
    """
    target = model.state_dict()
    out = dict(state_dict)
    pos = out.get("pos_embed")
    if pos is not None and "pos_embed" in target and pos.shape != target["pos_embed"].shape:
        grid = tuple(model.patch_embed.grid_size)
        prefix = 0 if getattr(model, "no_embed_class", False) else getattr(model, "num_prefix_tokens", 1)
        out["pos_embed"] = resize_pos_embed(pos, grid, num_prefix_tokens=prefix)
    for key in list(out):
        if key in target and out[key].shape != target[key].shape and key.startswith(tuple(drop_mismatched)):
            del out[key]
    return out


def load_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    allow_missing: Iterable[str] = (),
    allow_unexpected: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """Load ``state_dict`` into ``model`` and return ``(missing, unexpected)`` keys.

    With ``strict``, any missing or unexpected key not covered by the ``allow_*`` prefixes, or any shape
    mismatch, raises :class:`CheckpointError` listing the offending names.
    """
    target = model.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in state_dict.items()
        if k in target and v.shape != target[k].shape
    ]
    if mismatched:
        raise CheckpointError("shape mismatch for " + "; ".join(mismatched))
    result = model.load_state_dict(dict(state_dict), strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(tuple(allow_missing))]
    unexpected = [k for k in result.unexpected_keys if not k.startswith(tuple(allow_unexpected))]
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"state dict does not match {type(model).__name__}: missing keys {missing[:12]}"
            f"{' ...' if len(missing) > 12 else ''}, unexpected keys {unexpected[:12]}"
            f"{' ...' if len(unexpected) > 12 else ''}"
        )
    return list(result.missing_keys), list(result.unexpected_keys)


def export_backbone(model: nn.Module, path: str | os.PathLike, *, drop: Iterable[str] = ()) -> None:
    """Write ``model``'s weights as a plain timm-style state dict (no wrapper prefixes, contiguous CPU tensors).

    The file loads with ``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path))``.
    ``drop`` lists key prefixes to leave out (e.g. a pre-training decoder).
    """
    state = remap_state_dict(model.state_dict())
    state = {k: v.detach().cpu().contiguous() for k, v in state.items() if not k.startswith(tuple(drop))}
    atomic_save(state, path)
