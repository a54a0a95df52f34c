"""Classification layout (torchvision ImageFolder): ``OUT/{train,val}/<class>/<class>_00001.jpg``.

Each image shows one dominant shape (its class) at a random scale and position over a random crop of a real photo;
its colour and texture are drawn independently of the class. Zero to two smaller distractors of other classes
(sometimes look-alikes: similar colour) sit around it, possibly cut by the image border or overlapping it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from vislite_common.data.world.backgrounds import random_crop
from vislite_common.data.world.output import generate_once, save_jpeg
from vislite_common.data.world.scene import SceneObject, compose, sample_look, sample_lookalike
from vislite_common.data.world.seeding import check_seed, item_rng
from vislite_common.data.world.vocab import SHAPES

SPLITS: tuple[str, ...] = ("train", "val")
MIN_MAIN_VISIBLE = 0.65  # the dominant object keeps at least this fraction visible


def render_classification_image(rng: np.random.Generator, shape: str, image_size: int) -> np.ndarray:
    """One (S, S, 3) uint8 image whose dominant object is a ``shape``."""
    size = image_size
    background, _ = random_crop(rng, (size, size), scale=(0.25, 0.85))
    look = sample_look(rng, shape=shape)
    radius = float(rng.uniform(0.2, 0.38)) * size
    margin = radius  # keep the dominant object whole
    center = (float(rng.uniform(margin, size - margin)), float(rng.uniform(margin, size - margin)))
    main = SceneObject(look, center, radius, float(rng.uniform(0, 2 * np.pi)))
    behind: list[SceneObject] = []
    front: list[SceneObject] = []
    others = tuple(s for s in SHAPES if s != shape)
    for _ in range(int(rng.choice(3, p=[0.3, 0.45, 0.25]))):
        if rng.random() < 0.4:
            d_look = sample_lookalike(rng, look)
            if d_look.shape == shape:  # same-shape look-alikes would make the label ambiguous
                d_look = sample_look(rng, shapes=others, colour=d_look.colour)
        else:
            d_look = sample_look(rng, shapes=others)
        d_center = (float(rng.uniform(-0.1, 1.1) * size), float(rng.uniform(-0.1, 1.1) * size))
        d_obj = SceneObject(d_look, d_center, float(rng.uniform(0.07, 0.15)) * size, float(rng.uniform(0, 2 * np.pi)))
        (front if rng.random() < 0.3 else behind).append(d_obj)
    image, full, visible = compose(background, [*behind, main, *front])
    k = len(behind)
    if front and visible[k].sum() < MIN_MAIN_VISIBLE * full[k].sum():
        image, _, _ = compose(background, [*behind, *front, main])  # too much hidden: put distractors behind
    return image


def make_classification(
    out: Path | str,
    *,
    seed: int = 0,
    image_size: int = 64,
    train_per_class: int = 60,
    val_per_class: int = 20,
    progress: bool = False,
) -> Path:
    """Write the ImageFolder classification world under ``out`` and return ``out`` (idempotent, deterministic).

    Classes are the shape names (``vocab.SHAPES``); images are ``image_size`` x ``image_size`` JPEGs.
    """
    seed = check_seed(seed)
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16 px, got {image_size}")
    if train_per_class < 1 or val_per_class < 1:
        raise ValueError(f"train_per_class and val_per_class must be >= 1, got {train_per_class}, {val_per_class}")
    counts = {"train": int(train_per_class), "val": int(val_per_class)}
    params = {"seed": int(seed), "image_size": int(image_size), **{f"{s}_per_class": n for s, n in counts.items()}}

    def generate(root: Path) -> None:
        total = sum(counts.values()) * len(SHAPES)
        with tqdm(total=total, desc="classification", unit="img", disable=not progress) as bar:
            for split_id, split in enumerate(SPLITS):
                for class_id, shape in enumerate(SHAPES):
                    for i in range(counts[split]):
                        rng = item_rng(seed, "classification", split_id, class_id, i)
                        image = render_classification_image(rng, shape, image_size)
                        save_jpeg(root / split / shape / f"{shape}_{i + 1:05d}.jpg", image)
                        bar.update()

    return generate_once(out, "classification", params, SPLITS, generate)
