"""``load_sequences``: one entry point over the tracking dataset readers, by dataset name."""

from __future__ import annotations

import os
from collections.abc import Callable

from vislite_tracking.data.got10k import got10k_sequences
from vislite_tracking.data.lasot import lasot_sequences
from vislite_tracking.data.otb import otb_sequences
from vislite_tracking.data.sequence import Sequence
from vislite_tracking.data.trackingnet import trackingnet_sequences

READERS: dict[str, Callable[[str | os.PathLike, str | None], list[Sequence]]] = {
    "lasot": lasot_sequences,
    "got10k": got10k_sequences,
    "otb": otb_sequences,
    "trackingnet": trackingnet_sequences,
}


def load_sequences(dataset: str, root: str | os.PathLike, split: str | None = None) -> list[Sequence]:
    """Sequences of ``dataset`` ("lasot", "got10k", "otb" or "trackingnet") under ``root``.

    ``split``: LaSOT None (all) / "test" / "train" (from ``testing_set.txt`` / ``training_set.txt``); GOT-10k
    "train" / "val" (default) / "test", or "vottrain" / "votval" / "train_full" from the reference trainer's
    index files placed in the root; OTB None; TrackingNet "train" (default: TRAIN_0..TRAIN_11), "test" or chunks
    such as "0-3" / "TRAIN_0,TRAIN_5".
    """
    if dataset not in READERS:
        raise ValueError(f"unknown tracking dataset {dataset!r}; expected one of {sorted(READERS)}")
    return READERS[dataset](root, split)
