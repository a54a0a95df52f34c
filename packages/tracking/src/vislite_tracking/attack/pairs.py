"""Endless batches of SiamFC++ training pairs for the attack (the victim's crop sizes, fake boxes added later)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader

from vislite_tracking.data.sequence import Sequence as TrackSequence
from vislite_tracking.siamfcpp.data import SiamFCppPairs


def attack_batches(
    sequences: Sequence[TrackSequence],
    *,
    z_size: int,
    x_size: int,
    batch_size: int = 96,
    seed: int = 0,
    min_frames: int = 10,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of ``{im_z, im_x, box_x}`` drawn for ever from ``sequences`` (video_analyst's crop jitter)."""
    if not sequences:
        raise ValueError("attack training needs at least one sequence")
    pairs = SiamFCppPairs(
        sources=[list(sequences)],
        samples_per_epoch=1 << 30,
        max_gap=100,
        z_size=z_size,
        x_size=x_size,
        min_frames=min_frames,
        seed=seed,
    )
    loader = DataLoader(pairs, batch_size=batch_size, shuffle=False)
    while True:
        yield from loader
