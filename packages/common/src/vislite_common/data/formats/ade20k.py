"""Reader for the ADE20K layout: ``<root>/images/<split>/*.jpg`` paired with ``<root>/annotations/<split>/*.png``."""

from __future__ import annotations

import os
from pathlib import Path

from vislite_common.data.formats.errors import FormatError, require_dir

ADE20K_SPLITS: dict[str, str] = {
    "training": "training",
    "validation": "validation",
    "train": "training",
    "val": "validation",
}


def ade20k_pairs(root: str | os.PathLike, split: str) -> list[tuple[Path, Path]]:
    """(image, label map) path pairs of ``split`` ("training"/"validation", or "train"/"val"), sorted by name.

    Raises ValueError for an unknown split, FileNotFoundError for a missing folder and FormatError when an
    image has no annotation (or the reverse) or the split is empty.
    """
    if split not in ADE20K_SPLITS:
        raise ValueError(f"unknown ADE20K split {split!r}; expected one of {sorted(ADE20K_SPLITS)}")
    folder = ADE20K_SPLITS[split]
    root = Path(root)
    image_dir = require_dir(root / "images" / folder, "ADE20K image folder")
    ann_dir = require_dir(root / "annotations" / folder, "ADE20K annotation folder")
    images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    labels = {p.stem: p for p in ann_dir.iterdir() if p.suffix.lower() == ".png"}
    if missing := sorted(set(images) - set(labels)):
        raise FormatError(
            ann_dir,
            f"no annotation {missing[0]}.png for image {images[missing[0]].name} "
            f"({len(missing)} image(s) without annotation)",
        )
    if orphans := sorted(set(labels) - set(images)):
        raise FormatError(
            image_dir, f"no image for annotation {labels[orphans[0]].name} ({len(orphans)} annotation(s) without image)"
        )
    if not images:
        raise FormatError(image_dir, "no images; expected <name>.jpg with annotations/<split>/<name>.png")
    return [(images[stem], labels[stem]) for stem in sorted(images)]
