"""Aspect-ratio grouped batches: every batch holds only landscape (w >= h) or only portrait (w < h) images."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from torch.utils.data import BatchSampler, Sampler

from vislite_common.data.samplers import split_index


class GroupedBatchSampler(BatchSampler):
    """Batches of ``batch_size`` items from ``sampler`` sharing a group id (``group_ids[index]``).

    Items are taken in the sampler's order and held per group until a group has a full batch; at the end the
    partial batches are dropped (``drop_last``) or yielded, one per group. Items may be plain indices or
    ``(index, seed)`` pairs, passed through unchanged. ``set_epoch`` is forwarded to the sampler.
    """

    def __init__(self, sampler: Sampler | Iterable[Any], batch_size: int, drop_last: bool, *, group_ids: Sequence[int]):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(sampler, int(batch_size), bool(drop_last))
        self.group_ids = list(group_ids)

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __iter__(self) -> Iterator[list[Any]]:
        buffers: dict[int, list[Any]] = {}
        for item in self.sampler:
            group = self.group_ids[split_index(item)[0]]
            buffer = buffers.setdefault(group, [])
            buffer.append(item)
            if len(buffer) == self.batch_size:
                yield buffer
                buffers[group] = []
        if not self.drop_last:
            for group in sorted(buffers):
                if buffers[group]:
                    yield buffers[group]

    def __len__(self) -> int:
        counts: dict[int, int] = {}
        for item in self.sampler:
            group = self.group_ids[split_index(item)[0]]
            counts[group] = counts.get(group, 0) + 1
        if self.drop_last:
            return sum(count // self.batch_size for count in counts.values())
        return sum(-(-count // self.batch_size) for count in counts.values())
