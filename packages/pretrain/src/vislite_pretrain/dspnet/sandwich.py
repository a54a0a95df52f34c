"""The sandwich rule: which widths train at a step (largest, smallest, and ``n`` others drawn at random)."""

from __future__ import annotations

import random
from collections.abc import Sequence


def sandwich_widths(width_mults: Sequence[float], num_random: int, rng: random.Random) -> list[float]:
    """``[max, <num_random widths drawn without replacement from the others>, min]``, largest first.

    With the slimmable width list (1.0, 0.75, 0.5, 0.25) and ``num_random=2`` every width trains at every step
    (S-Net); ``num_random=0`` trains only the largest and the smallest. A single-width list gives that width.
    """
    widths = sorted({float(w) for w in width_mults}, reverse=True)
    if not widths:
        raise ValueError("width_mults must list at least one width")
    middle = widths[1:-1]
    if not 0 <= num_random <= len(middle):
        raise ValueError(
            f"num_random must be between 0 and {len(middle)} (the widths between the largest and the smallest of "
            f"{widths}), got {num_random}"
        )
    chosen = rng.sample(middle, num_random)
    return sorted({widths[0], widths[-1], *chosen}, reverse=True)
