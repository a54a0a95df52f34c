"""The record of one tracker run over one sequence (kept free of heavy imports: OPE workers unpickle it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Run:
    """One run of a tracker over one sequence: (N, 4) boxes x, y, w, h and, if recorded, (N,) seconds per frame."""

    boxes: np.ndarray
    times: np.ndarray | None = None
