"""The explicit allowlist of non-tensor types :func:`vislite_common.checkpoint.safe_load` accepts.

``torch.load(..., weights_only=True)`` refuses every pickled class outside torch's own small allowlist. Released
checkpoints carry a few harmless extras beside their tensors, and only those are added here:

* ``argparse.Namespace``: the ``args`` entry of MAE / MAE-Lite / DeiT / timm ``train.py`` checkpoints;
* numpy scalars, dtypes and arrays: best-metric values and statistics (timm ``metric``, MAE-Lite logs);
* pytracking / OSTrack training-state objects (``settings``, ``stats``: ``Settings``, ``AverageMeter``,
  ``StatValue``, ``TensorDict``): read into :class:`InertRecord`, a plain attribute bag that runs no code from
  the file, instead of the original classes.

Nothing else is added: a checkpoint naming any other global is still refused before anything in it runs.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


class InertRecord:
    """A stand-in for a pickled training-state object: its attributes kept as data, none of its methods."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]  # (dict state, slot state) as pickle's default reduce writes it
        if isinstance(state, dict):
            self.__dict__.update({str(k): v for k, v in state.items()})
        else:
            self.__dict__["state"] = state

    def __repr__(self) -> str:
        return f"InertRecord({sorted(self.__dict__)})"


INERT_CLASS_NAMES = (
    "lib.train.admin.settings.Settings",  # OSTrack
    "lib.train.admin.stats.AverageMeter",
    "lib.train.admin.stats.StatValue",
    "lib.utils.tensor.TensorDict",
    "ltr.admin.settings.Settings",  # pytracking
    "ltr.admin.stats.AverageMeter",
    "ltr.admin.stats.StatValue",
    "pytracking.libs.tensordict.TensorDict",
)
"""Full names of the released trackers' training-state classes read as :class:`InertRecord`."""


def _numpy_globals() -> list[Any]:
    """numpy's pickling entry points under both their numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) names."""
    core = getattr(np, "_core", None) or np.core
    multiarray = core.multiarray
    entries: list[Any] = [np.dtype, np.ndarray]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries += [(multiarray.scalar, f"{module}.scalar"), (multiarray._reconstruct, f"{module}._reconstruct")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes through their classes
    if dtypes is not None:
        entries += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return entries


def extra_safe_globals() -> list[Any]:
    """The allowlist: classes and ``(stand-in, "module.Name")`` pairs for ``torch.serialization.safe_globals``."""
    return [argparse.Namespace, *_numpy_globals(), *((InertRecord, name) for name in INERT_CLASS_NAMES)]


@contextlib.contextmanager
def allowlisted() -> Iterator[None]:
    """Allow :func:`extra_safe_globals` for ``weights_only`` loads inside the block.

    torch >= 2.5 scopes the allowlist to the block; torch 2.4 (no scoped form, no name pairs) gets the classes
    added for the process, which only widens what ``weights_only`` accepts by these same harmless types.
    """
    serialization = torch.serialization
    if hasattr(serialization, "safe_globals"):
        with serialization.safe_globals(extra_safe_globals()):
            yield
        return
    serialization.add_safe_globals([g for g in extra_safe_globals() if not isinstance(g, tuple)])
    yield
