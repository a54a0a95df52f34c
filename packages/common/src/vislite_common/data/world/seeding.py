"""Per-item random generators: every image / sequence is a pure function of (seed, task, indices)."""

from __future__ import annotations

import zlib

import numpy as np


def check_seed(seed: int) -> int:
    """``seed`` as an int; ValueError unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def item_rng(seed: int, task: str, *indices: int) -> np.random.Generator:
    """A numpy Generator seeded from ``seed``, a stable hash of ``task`` and the item's ``indices``."""
    check_seed(seed)
    return np.random.default_rng([int(seed), zlib.crc32(task.encode("utf-8")), *(int(i) for i in indices)])
