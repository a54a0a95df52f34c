"""Classification layout (torchvision ImageFolder): ``OUT/{train,val}/<class>/<class>_00001.jpg``.

Each image shows one dominant shape (its class) at a random scale and position over a random crop of a real photo;
its colour and texture are drawn independently of the class. Zero to two smaller distractors of other classes
(sometimes look-alikes: similar colour) sit around it, possibly cut by the image border or overlapping it.

Two options make an easier variant (the defaults give the world above, byte for byte): ``background="flat"`` (one
random grey) or ``"blurred"`` (a Gaussian-blurred photo crop) instead of ``"photo"``, and ``max_distractors`` below 2
(0 = the dominant shape alone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from tqdm import tqdm

from vislite_common.data.world.backgrounds import random_crop
from vislite_common.data.world.output import generate_once, save_jpeg
from vislite_common.data.world.scene import SceneObject, compose, sample_look, sample_lookalike
from vislite_common.data.world.seeding import check_seed, item_rng
from vislite_common.data.world.vocab import SHAPES

SPLITS: tuple[str, ...] = ("train", "val")
MIN_MAIN_VISIBLE = 0.65  # the dominant object keeps at least this fraction visible
Background = Literal["photo", "flat", "blurred"]
BACKGROUND_KINDS: tuple[str, ...] = ("photo", "flat", "blurred")
MAX_DISTRACTORS = 2
FLAT_GREY = (40, 216)  # range of the flat background's grey level
BLUR_SIGMA = 1 / 12  # Gaussian sigma of the "blurred" background, as a fraction of the image size
DEFAULT_VARIANT: dict[str, object] = {"background": "photo", "max_distractors": MAX_DISTRACTORS}


def render_background(rng: np.random.Generator, kind: Background, size: int) -> np.ndarray:
    """An (S, S, 3) uint8 background: a photo crop, one random grey (``"flat"``) or a blurred photo crop."""
    if kind == "flat":
        return np.full((size, size, 3), int(rng.integers(*FLAT_GREY)), dtype=np.uint8)
    background, _ = random_crop(rng, (size, size), scale=(0.25, 0.85))
    if kind == "blurred":
        background = cv2.GaussianBlur(background, (0, 0), sigmaX=BLUR_SIGMA * size)
    return background


def render_classification_image(
    rng: np.random.Generator,
    shape: str,
    image_size: int,
    *,
    background: Background = "photo",
    max_distractors: int = MAX_DISTRACTORS,
) -> np.ndarray:
    """One (S, S, 3) uint8 image whose dominant object is a ``shape``, with at most ``max_distractors`` others."""
    size = image_size
    backdrop = render_background(rng, background, size)
    look = sample_look(rng, shape=shape)
    radius = float(rng.uniform(0.2, 0.38)) * size
    margin = radius  # keep the dominant object whole
    center = (float(rng.uniform(margin, size - margin)), float(rng.uniform(margin, size - margin)))
    main = SceneObject(look, center, radius, float(rng.uniform(0, 2 * np.pi)))
    behind: list[SceneObject] = []
    front: list[SceneObject] = []
    others = tuple(s for s in SHAPES if s != shape)
    num_distractors = int(rng.choice(3, p=[0.3, 0.45, 0.25]))  # drawn always, so the rng stream stays the same
    for _ in range(min(num_distractors, max_distractors)):
        if rng.random() < 0.4:
            d_look = sample_lookalike(rng, look)
            if d_look.shape == shape:  # same-shape look-alikes would make the label ambiguous
                d_look = sample_look(rng, shapes=others, colour=d_look.colour)
        else:
            d_look = sample_look(rng, shapes=others)
        d_center = (float(rng.uniform(-0.1, 1.1) * size), float(rng.uniform(-0.1, 1.1) * size))
        d_obj = SceneObject(d_look, d_center, float(rng.uniform(0.07, 0.15)) * size, float(rng.uniform(0, 2 * np.pi)))
        (front if rng.random() < 0.3 else behind).append(d_obj)
    image, full, visible = compose(backdrop, [*behind, main, *front])
    k = len(behind)
    if front and visible[k].sum() < MIN_MAIN_VISIBLE * full[k].sum():
        image, _, _ = compose(backdrop, [*behind, *front, main])  # too much hidden: put distractors behind
    return image


def make_classification(
    out: Path | str,
    *,
    seed: int = 0,
    image_size: int = 64,
    train_per_class: int = 60,
    val_per_class: int = 20,
    background: Background = "photo",
    max_distractors: int = MAX_DISTRACTORS,
    progress: bool = False,
) -> Path:
    """Write the ImageFolder classification world under ``out`` and return ``out`` (idempotent, deterministic).

    Classes are the shape names (``vocab.SHAPES``); images are ``image_size`` x ``image_size`` JPEGs.
    ``background`` is ``"photo"`` (a real photo crop), ``"flat"`` (one random grey per image) or ``"blurred"``
    (a blurred photo crop); ``max_distractors`` (0-2) caps the smaller shapes around the dominant one.
    """
    seed = check_seed(seed)
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16 px, got {image_size}")
    if train_per_class < 1 or val_per_class < 1:
        raise ValueError(f"train_per_class and val_per_class must be >= 1, got {train_per_class}, {val_per_class}")
    if background not in BACKGROUND_KINDS:
        raise ValueError(f"background must be one of {BACKGROUND_KINDS}, got {background!r}")
    if not 0 <= max_distractors <= MAX_DISTRACTORS:
        raise ValueError(f"max_distractors must be in 0..{MAX_DISTRACTORS}, got {max_distractors}")
    counts = {"train": int(train_per_class), "val": int(val_per_class)}
    params = {"seed": int(seed), "image_size": int(image_size), **{f"{s}_per_class": n for s, n in counts.items()}}
    variant = {"background": background, "max_distractors": int(max_distractors)}
    # Options left at their defaults stay out of the manifest, so worlds written before they existed stay valid.
    params.update({k: v for k, v in variant.items() if v != DEFAULT_VARIANT[k]})

    def generate(root: Path) -> None:
        total = sum(counts.values()) * len(SHAPES)
        with tqdm(total=total, desc="classification", unit="img", disable=not progress) as bar:
            for split_id, split in enumerate(SPLITS):
                for class_id, shape in enumerate(SHAPES):
                    for i in range(counts[split]):
                        rng = item_rng(seed, "classification", split_id, class_id, i)
                        image = render_classification_image(
                            rng, shape, image_size, background=background, max_distractors=max_distractors
                        )
                        save_jpeg(root / split / shape / f"{shape}_{i + 1:05d}.jpg", image)
                        bar.update()

    return generate_once(out, "classification", params, SPLITS, generate)
