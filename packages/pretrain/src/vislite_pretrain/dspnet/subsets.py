"""Labelled subsets for semi-supervised evaluation (SimCLR / BYOL protocol: 1 % and 10 % of the labels).

:func:`write_label_subset` draws a class-balanced share of an ImageFolder training split (seeded, at least one
image per class) and writes it as a text file of paths relative to the split, one a line, sorted (the layout of
SimCLR's ``1percent.txt`` / ``10percent.txt``, which list file names). The same folder, fraction and seed always
give the same file. :class:`SubsetImageFolderDataModule` trains on exactly the images a file lists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vislite_common.data.classification import (
    ImageFolderDataModule,
    ImageFolderDataset,
    class_balanced_subset,
    find_classes,
)
from vislite_common.fileio import atomic_write_text


def subset_file_name(fraction: float) -> str:
    """``1percent.txt`` for 0.01, ``10percent.txt`` for 0.1 (SimCLR's names)."""
    return f"{fraction * 100:g}percent.txt"


def write_label_subset(
    split_dir: str | os.PathLike, fraction: float, path: str | os.PathLike, *, seed: int = 0
) -> list[str]:
    """Write the seeded, class-balanced ``fraction`` of ``split_dir`` (``<class>/<image>``) to ``path``; returns
    the listed paths (relative to ``split_dir``, ``/``-separated, sorted)."""
    dataset = ImageFolderDataset(split_dir, classes=find_classes(split_dir))
    kept = class_balanced_subset(dataset.samples, fraction, seed=seed)
    root = Path(split_dir)
    lines = sorted(Path(dataset.samples[i][0]).relative_to(root).as_posix() for i in kept)
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))
    return lines


def read_label_subset(path: str | os.PathLike) -> list[str]:
    """The relative image paths a subset file lists (blank lines and ``#`` comments skipped)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"label subset file {file} does not exist (write it with write_label_subset)")
    entries = [line.strip() for line in file.read_text().splitlines()]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise ValueError(f"label subset file {file} lists no images")
    return entries


def subset_indices(dataset: ImageFolderDataset, entries: list[str], *, source: str = "subset file") -> list[int]:
    """Indices of ``dataset``'s samples listed in ``entries`` (paths relative to its root), in file order."""
    position = {Path(p).relative_to(dataset.root).as_posix(): i for i, (p, _) in enumerate(dataset.samples)}
    missing = [e for e in entries if e not in position]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"{source}: {len(missing)} listed image(s) are not in {dataset.root}: {shown}")
    return sorted(position[e] for e in entries)


class SubsetImageFolderDataModule(ImageFolderDataModule):
    """:class:`ImageFolderDataModule` whose training split is exactly the images listed in ``subset_file``."""

    def __init__(self, *, subset_file: str | os.PathLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subset_file = str(subset_file)

    def build_datasets(self, stage: str | None) -> dict[str, ImageFolderDataset]:
        built = super().build_datasets(stage)
        train = built.get("train")
        if train is not None:
            entries = read_label_subset(self.subset_file)
            train.restrict(subset_indices(train, entries, source=self.subset_file))
        return built
