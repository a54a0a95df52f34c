"""Safe, portable checkpoints: atomic saves, ``weights_only`` loads, key remapping, pos-embed resizing, export.

* :func:`atomic_save` never leaves a half-written file at the target path (temp file, fsync, rename).
* :func:`safe_load` only unpickles tensors and plain containers; a file that holds arbitrary Python objects is
  refused with :class:`CheckpointError` before any of its code can run.
* :func:`extract_state_dict`, :func:`remap_state_dict`, :func:`adapt_state_dict_to_model` and :func:`load_into`
  take a checkpoint from Lightning, DDP, ``torch.compile``, MAE/DeiT or timm layouts into a model, reporting
  every missing, unexpected or mismatched key by name.
* :func:`export_backbone` writes a plain timm-style state dict that
  ``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path))`` loads offline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from vislite_common.checkpoint_allowlist import allowlisted

log = logging.getLogger(__name__)

STATE_DICT_KEYS = ("state_dict", "model", "module", "model_ema", "state_dict_ema", "teacher", "student", "net")
"""Keys under which common checkpoint containers keep the weights, searched in this order."""
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.", "backbone.")
"""Prefixes added by DDP (``module.``), Lightning modules (``model.``), ``torch.compile`` and detector wrappers."""

_SHOWN = 12  # names listed in an error message before "..."


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked: unsafe content, unknown layout, or keys that do not match."""


# ----------------------------------------------------------------------------------------------------------- saving
def _new_file_mode(target: Path) -> int:
    """Permissions for the replacement file: those of the file it replaces, else ``0o666`` less the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    """Persist a rename in ``directory`` (POSIX); silently skipped where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Run ``write`` on a temporary file beside ``path``, fsync it, then ``os.replace`` it onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _new_file_mode(target)
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as tmp:
            tmp_name = tmp.name
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:  # also KeyboardInterrupt: the previous file stays, the partial one goes
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to ``path`` atomically: readers see the old file or the complete new one, never a mix.

    The data goes to a temporary file in the same directory, is flushed and fsynced, then renamed over ``path``.
    If saving raises (or is interrupted), ``path`` keeps its previous content and the temporary file is removed;
    after a hard kill (SIGKILL, power loss) a stray ``.<name>.*.tmp`` file may remain, never a broken ``path``.
    """
    _atomic_write(path, lambda handle: torch.save(obj, handle))


# ---------------------------------------------------------------------------------------------------------- loading
def _unpickling_detail(error: BaseException) -> str:
    """The line of torch's weights-only error naming the refused global, if any."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported global" in line]
    return f" ({named[0]})" if named else ""


def _names_a_refused_object(error: BaseException) -> bool:
    """Whether torch's weights-only error is a refusal of a pickled global (not a damaged stream)."""
    text = str(error)
    return any(key in text for key in ("Unsupported global", "GLOBAL", "Can only create new object",
                                       "Trying to call reduce", "Unsupported class"))


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    after = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.endswith("WeightsUnpickler error:")]
    named = after or [line for line in lines if "invalid load key" in line or "Unsupported operand" in line]
    return (named or lines or [type(error).__name__])[0][:200]


def safe_load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a checkpoint with ``torch.load(..., weights_only=True)``: tensors, plain containers and the explicit
    allowlist of :mod:`vislite_common.checkpoint_allowlist` only.

    ``weights_only=True`` is passed explicitly, so neither torch's version (2.4/2.5 defaulted to ``False``) nor
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` can turn it off. Every checkpoint vislite reads goes through here,
    Lightning's resume and ``trainer.test(ckpt_path=...)`` included (:class:`~vislite_common.lit.callbacks.
    AtomicCheckpointIO`).

    Raises:
        FileNotFoundError: ``path`` does not exist (or is not a file).
        CheckpointError: the file holds arbitrary pickled Python objects (refused: unpickling them could run
            code), or it is not a readable checkpoint (truncated, corrupt).

    ``.safetensors`` files are read with the ``safetensors`` package when it is installed.
    """
    path = Path(path)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise FileNotFoundError(f"checkpoint file {path} {what}")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, map_location)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint (an interrupted copy or write?)")
    try:
        with allowlisted():
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not _names_a_refused_object(error):
            first = _last_line(error)
            raise CheckpointError(f"{path} is not a readable torch checkpoint (corrupt, or not made by torch.save): "
                                  f"{first}") from error
        raise CheckpointError(
            f"refused to load {path}: it contains arbitrary Python objects{_unpickling_detail(error)}, and "
            f"unpickling them would run code from the file. If you trust its source, load it once with "
            f"torch.load(path, weights_only=False) and re-save only the weights as a plain state dict, e.g. "
            f"torch.save(checkpoint['state_dict'], 'weights.pth') or torch.save(model.state_dict(), 'weights.pth')."
        ) from error
    except (EOFError, ValueError, OSError) as error:
        problem = f"is not a readable torch checkpoint (truncated or corrupt?): {error!r}"
        raise CheckpointError(f"{path} {problem}") from error
    except RuntimeError as error:  # the zip container is damaged (truncated copy, interrupted non-atomic save)
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): {first}") from error


def _load_safetensors(path: Path, map_location: Any) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as error:
        raise CheckpointError(f"{path} is a .safetensors file; `pip install safetensors` to read it") from error
    device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
    try:
        return load_file(str(path), device=device)
    except Exception as error:  # safetensors raises its own SafetensorError for damaged headers
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error


# ------------------------------------------------------------------------------------------------- state dict keys
def _is_tensor_dict(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def extract_state_dict(checkpoint: Any, keys: Iterable[str] = STATE_DICT_KEYS) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint container.

    A flat ``{name: tensor}`` dict is returned as is; otherwise the first of ``keys`` holding one (Lightning
    ``state_dict``, MAE/DeiT ``model``, EMA ``model_ema``, DINO ``teacher``, ...), also one level deeper.
    Raises :class:`CheckpointError` listing the top-level keys when none is found.
    """
    keys = tuple(keys)
    if _is_tensor_dict(checkpoint):
        return dict(checkpoint)
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"expected a dict checkpoint, got {type(checkpoint).__name__}")
    for key in keys:
        inner = checkpoint.get(key)
        if _is_tensor_dict(inner):
            return dict(inner)
    for key in keys:  # e.g. {"model": {"state_dict": ...}}
        inner = checkpoint.get(key)
        if isinstance(inner, Mapping):
            for sub in keys:
                if _is_tensor_dict(inner.get(sub)):
                    return dict(inner[sub])
    shown = sorted(map(str, checkpoint))
    raise CheckpointError(
        f"no state dict found in the checkpoint; top-level keys are {shown[:20]}{' ...' if len(shown) > 20 else ''}; "
        f"expected a flat {{name: tensor}} dict or one under one of {list(keys)}"
    )


def remap_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    *,
    strip_prefixes: Iterable[str] = WRAPPER_PREFIXES,
    rename: Mapping[str, str] | Callable[[str], str | None] | None = None,
) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes from every key (repeatedly: ``module.model.blocks.0`` -> ``blocks.0``), then rename.

    ``rename`` is either a mapping of key prefixes (``{"encoder.": "", "fc.": "head."}``; the longest matching
    prefix wins, a full key is a prefix of itself) or a function returning the new key, or ``None`` to drop it.
    Two keys that end up with the same name raise :class:`CheckpointError` instead of overwriting each other.
    """
    prefixes = tuple(p for p in strip_prefixes if p)
    renames = sorted(rename.items(), key=lambda item: -len(item[0])) if isinstance(rename, Mapping) else []
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in state_dict.items():
        stripped = key
        while stripped.startswith(prefixes):
            stripped = stripped[len(next(p for p in prefixes if stripped.startswith(p))) :]
        new_key: str | None = stripped
        if callable(rename):
            new_key = rename(stripped)
        else:
            for old, new in renames:
                if stripped.startswith(old):
                    new_key = new + stripped[len(old) :]
                    break
        if new_key is None:
            continue
        if new_key in out:
            raise CheckpointError(f"keys {origin[new_key]!r} and {key!r} both map to {new_key!r}")
        out[new_key], origin[new_key] = value, key
    return out


# ------------------------------------------------------------------------------------------------ fitting to models
def resize_pos_embed(
    pos_embed: torch.Tensor,
    new_grid: tuple[int, int],
    num_prefix_tokens: int = 1,
    old_grid: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Bicubic resize of a ViT position table ``[1, prefix + h*w, C]`` to ``new_grid`` (prefix tokens kept as is).

    ``old_grid`` defaults to a square grid; uses ``timm.layers.resample_abs_pos_embed``.
    """
    from timm.layers import resample_abs_pos_embed  # timm is only needed here: keeps `atomic_save` imports light

    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"expected a position table of shape [1, tokens, dim], got {tuple(pos_embed.shape)}")
    patches = pos_embed.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = int(round(patches**0.5))
        if side * side != patches:
            raise ValueError(
                f"position table has {patches} patch tokens after {num_prefix_tokens} prefix tokens, not a square "
                f"grid; pass old_grid"
            )
        old_grid = (side, side)
    elif old_grid[0] * old_grid[1] != patches:
        raise ValueError(f"old_grid {tuple(old_grid)} does not hold the table's {patches} patch tokens")
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    return resample_abs_pos_embed(
        pos_embed,
        new_size=[int(s) for s in new_grid],
        old_size=[int(s) for s in old_grid],
        num_prefix_tokens=num_prefix_tokens,
        interpolation="bicubic",
        antialias=True,
    )


def adapt_state_dict_to_model(
    state_dict: Mapping[str, torch.Tensor], model: nn.Module, *, drop_mismatched: Iterable[str] = ()
) -> dict[str, torch.Tensor]:
    """Fit ``state_dict`` to ``model``: resize a ViT ``pos_embed`` to its grid; drop mismatched keys on request.

    ``drop_mismatched`` lists key prefixes (e.g. ``("head.",)`` for a new classifier) whose tensors are dropped
    when their shape differs from the model's; every other shape mismatch is kept, and :func:`load_into`
    reports it.
    """
    target = model.state_dict()
    out = dict(state_dict)
    pos = out.get("pos_embed")
    if pos is not None and "pos_embed" in target and pos.shape != target["pos_embed"].shape:
        patch_embed = getattr(model, "patch_embed", None)
        grid = getattr(patch_embed, "grid_size", None)
        if grid is not None and pos.ndim == 3 and pos.shape[-1] == target["pos_embed"].shape[-1]:
            prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 1))
            try:
                out["pos_embed"] = resize_pos_embed(pos, tuple(grid), num_prefix_tokens=prefix)
            except ValueError as error:
                raise CheckpointError(f"cannot fit pos_embed {tuple(pos.shape)} to the model's grid: {error}") from None
            log.info("resized pos_embed %s -> %s", tuple(pos.shape), tuple(out["pos_embed"].shape))
    prefixes = tuple(drop_mismatched)
    if prefixes:
        dropped = [k for k, v in out.items() if k.startswith(prefixes) and k in target and v.shape != target[k].shape]
        for key in dropped:
            del out[key]
        if dropped:
            log.info("dropped checkpoint keys whose shape differs from the model's: %s", ", ".join(dropped))
    return out


def _names(keys: list[str]) -> str:
    return f"{keys[:_SHOWN]}{f' ... ({len(keys)} in all)' if len(keys) > _SHOWN else ''}"


def load_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    allow_missing: Iterable[str] = (),
    allow_unexpected: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """Load ``state_dict`` into ``model``; return all ``(missing, unexpected)`` keys.

    Shape mismatches always raise :class:`CheckpointError` naming each key and both shapes. With ``strict``,
    missing or unexpected keys also raise (names listed), except those starting with a prefix in
    ``allow_missing`` / ``allow_unexpected``; without it they are logged as warnings.
    """
    target = model.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in state_dict.items()
        if k in target and isinstance(v, torch.Tensor) and v.shape != target[k].shape
    ]
    if mismatched:
        raise CheckpointError(
            f"shape mismatch loading into {type(model).__name__} for {len(mismatched)} key(s): "
            + "; ".join(mismatched[:_SHOWN])
            + (" ..." if len(mismatched) > _SHOWN else "")
        )
    result = model.load_state_dict(dict(state_dict), strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    bad_missing = [k for k in missing if not k.startswith(tuple(allow_missing))]
    bad_unexpected = [k for k in unexpected if not k.startswith(tuple(allow_unexpected))]
    if bad_missing or bad_unexpected:
        message = (
            f"state dict does not match {type(model).__name__}: missing keys {_names(bad_missing)}, "
            f"unexpected keys {_names(bad_unexpected)}"
        )
        if strict:
            raise CheckpointError(message)
        log.warning(message)
    return missing, unexpected


# ----------------------------------------------------------------------------------------------------------- export
def _plain_tensor(value: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU tensor owning exactly its own storage (views of larger tensors are copied)."""
    tensor = value.detach().to("cpu").contiguous()
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        tensor = tensor.clone()
    return tensor


def export_backbone(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    drop: Iterable[str] = (),
    strip_prefixes: Iterable[str] = WRAPPER_PREFIXES,
) -> dict[str, torch.Tensor]:
    """Atomically write ``model``'s weights as a plain timm-style state dict and return it.

    Keys lose wrapper prefixes (DDP, ``torch.compile``, ``model.``, ``backbone.``); values are contiguous CPU
    tensors, nothing else is stored, so :func:`safe_load` and ``timm.create_model(name, pretrained=True,
    pretrained_cfg_overlay=dict(file=path))`` read it without network access. ``drop`` lists key prefixes to
    leave out (e.g. a pre-training decoder). A ``.safetensors`` path is written in that format (needs the
    ``safetensors`` package).
    """
    state = remap_state_dict(model.state_dict(), strip_prefixes=strip_prefixes)
    dropped = tuple(drop)
    state = {k: _plain_tensor(v) for k, v in state.items() if not (dropped and k.startswith(dropped))}
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import save

        data = save(state)
        _atomic_write(path, lambda handle: handle.write(data))
    else:
        atomic_save(state, path)
    return state
