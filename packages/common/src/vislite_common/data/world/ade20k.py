"""Semantic-segmentation layout (ADE20K): ``OUT/images/{training,validation}/ADE_<split>_<n:08d>.jpg`` and
``OUT/annotations/{training,validation}/ADE_<split>_<n:08d>.png`` (single-channel uint8 label maps), plus
``OUT/classes.json``.

Labels: 0 = "other" (the photo background; ignored by ADE20K-style training, i.e. ``ignore_index`` 0 or
``reduce_zero_label``), 1..8 = shape classes (same order and ids as the COCO categories), 9..11 = the stuff
classes brick, grass and gravel (textured regions painted under the shapes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vislite_common.data.world.backgrounds import random_crop
from vislite_common.data.world.crowd import sample_crowd
from vislite_common.data.world.output import generate_once, save_jpeg, save_png, write_json
from vislite_common.data.world.scene import compose
from vislite_common.data.world.seeding import check_seed, item_rng
from vislite_common.data.world.stuff import paint_stuff, sample_stuff
from vislite_common.data.world.vocab import SHAPES, STUFF

SPLITS: dict[str, str] = {"training": "train", "validation": "val"}  # folder name → ADE file-name infix
CLASS_NAMES: tuple[str, ...] = ("other", *SHAPES, *STUFF)  # index = label value
IGNORE_INDEX = 0


def class_table() -> dict[str, Any]:
    """Content of ``classes.json``: every label value with its name and kind, and the ignore index."""
    kinds = ["ignore"] + ["thing"] * len(SHAPES) + ["stuff"] * len(STUFF)
    return {
        "ignore_index": IGNORE_INDEX,
        "num_classes": len(CLASS_NAMES) - 1,
        "classes": [{"index": i, "name": n, "kind": k} for i, (n, k) in enumerate(zip(CLASS_NAMES, kinds))],
        "note": "label 0 = other/background photo (ignored in training and evaluation); classes are 1..num_classes",
    }


def render_ade20k_pair(rng: np.random.Generator, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image (S, S, 3) uint8, label map (S, S) uint8) pair."""
    size = (image_size, image_size)
    background, _ = random_crop(rng, size, scale=(0.3, 0.95))
    regions = sample_stuff(rng, size)
    stuff_masks = paint_stuff(background, regions)
    objects = sample_crowd(rng, size, num_objects=(1, 4), radius_frac=(0.08, 0.25), textures=("plain", "striped"))
    image, _, visible = compose(background, objects)
    label = np.zeros((image_size, image_size), dtype=np.uint8)  # (S, S), 0 = other
    for region, mask in zip(regions, stuff_masks):
        label[mask] = CLASS_NAMES.index(region.name)
    for obj, mask in zip(objects, visible):
        label[mask] = CLASS_NAMES.index(obj.look.shape)
    return image, label


def make_ade20k(
    out: Path | str,
    *,
    seed: int = 0,
    image_size: int = 128,
    num_train: int = 64,
    num_val: int = 16,
    progress: bool = False,
) -> Path:
    """Write the ADE20K-layout semantic-segmentation world under ``out`` and return ``out`` (idempotent)."""
    seed = check_seed(seed)
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 px, got {image_size}")
    if num_train < 1 or num_val < 1:
        raise ValueError(f"num_train and num_val must be >= 1, got {num_train}, {num_val}")
    counts = {"training": int(num_train), "validation": int(num_val)}
    params = {
        "seed": int(seed),
        "image_size": int(image_size),
        "num_train": counts["training"],
        "num_val": counts["validation"],
    }

    def generate(root: Path) -> None:
        write_json(root / "classes.json", class_table())
        with tqdm(total=sum(counts.values()), desc="ade20k", unit="img", disable=not progress) as bar:
            for split_id, (folder, infix) in enumerate(SPLITS.items()):
                for i in range(counts[folder]):
                    image, label = render_ade20k_pair(item_rng(seed, "ade20k", split_id, i), image_size)
                    stem = f"ADE_{infix}_{i + 1:08d}"
                    save_jpeg(root / "images" / folder / f"{stem}.jpg", image)
                    save_png(root / "annotations" / folder / f"{stem}.png", label)
                    bar.update()

    return generate_once(out, "ade20k", params, ("images", "annotations", "classes.json"), generate)
