"""Detection + instance-segmentation layout (COCO) with captions and a seen/unseen class split.

``OUT/{train,val}/<id:012d>.jpg``, ``OUT/annotations/instances_{train,val}.json`` (visible-part masks as exact
polygons or RLE, ``area`` = visible pixels, tight ``bbox``, ``iscrowd`` 0), ``captions_{train,val}.json`` and
``class_split.json``. Every instance keeps at least 30 % of its area visible (placements are re-sampled until
it does), so no drawn object is left unannotated. All classes are annotated in both splits; the seen/unseen
split (also in each instances file's ``info``) is metadata for open-vocabulary protocols to filter on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from vislite_common.data.world.backgrounds import random_crop
from vislite_common.data.world.captions import describe_scene
from vislite_common.data.world.crowd import sample_crowd
from vislite_common.data.world.output import generate_once, save_jpeg, write_json
from vislite_common.data.world.polygons import mask_bbox, mask_to_polygons, mask_to_rle
from vislite_common.data.world.scene import compose
from vislite_common.data.world.seeding import check_seed, item_rng
from vislite_common.data.world.vocab import DEFAULT_UNSEEN, SHAPES

SPLITS: tuple[str, ...] = ("train", "val")
MIN_VISIBLE = 0.3


def class_split(unseen: tuple[str, ...] = DEFAULT_UNSEEN) -> dict[str, list[str]]:
    """{"seen": [...], "unseen": [...]} in category order; ``unseen`` must be a proper subset of the shapes."""
    bad = [name for name in unseen if name not in SHAPES]
    if bad:
        raise ValueError(f"unknown unseen class(es) {bad}; expected names from {list(SHAPES)}")
    if len(set(unseen)) >= len(SHAPES):
        raise ValueError("at least one class must stay seen")
    return {"seen": [s for s in SHAPES if s not in unseen], "unseen": [s for s in SHAPES if s in unseen]}


def categories(split: dict[str, list[str]]) -> list[dict[str, Any]]:
    """COCO categories (ids 1..K in ``SHAPES`` order) with a "seen" flag."""
    return [
        {"id": i + 1, "name": name, "supercategory": "shape", "seen": name in split["seen"]}
        for i, name in enumerate(SHAPES)
    ]


def make_coco(
    out: Path | str,
    *,
    seed: int = 0,
    image_size: int = 128,
    num_train: int = 64,
    num_val: int = 16,
    segmentation: Literal["polygon", "rle"] = "polygon",
    unseen: tuple[str, ...] = DEFAULT_UNSEEN,
    progress: bool = False,
) -> Path:
    """Write the COCO detection/instance-mask/caption world under ``out`` and return ``out`` (idempotent)."""
    seed = check_seed(seed)
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 px, got {image_size}")
    if num_train < 1 or num_val < 1:
        raise ValueError(f"num_train and num_val must be >= 1, got {num_train}, {num_val}")
    if segmentation not in ("polygon", "rle"):
        raise ValueError(f"segmentation must be 'polygon' or 'rle', got {segmentation!r}")
    unseen = tuple(unseen)
    split_names = class_split(unseen)
    counts = {"train": int(num_train), "val": int(num_val)}
    params = {
        "seed": int(seed),
        "image_size": int(image_size),
        "num_train": counts["train"],
        "num_val": counts["val"],
        "segmentation": segmentation,
        "unseen": list(unseen),
    }

    def generate(root: Path) -> None:
        info = {
            "description": "vislite embedded world: detection, instance masks and captions",
            "version": "1",
            "seed": int(seed),
            "segmentation": segmentation,
            "class_split": split_names,
            "min_visible_fraction": MIN_VISIBLE,
        }
        write_json(root / "annotations" / "class_split.json", split_names)
        with tqdm(total=sum(counts.values()), desc="coco", unit="img", disable=not progress) as bar:
            for split_id, split in enumerate(SPLITS):
                images: list[dict[str, Any]] = []
                anns: list[dict[str, Any]] = []
                caps: list[dict[str, Any]] = []
                for i in range(counts[split]):
                    rng = item_rng(seed, "coco", split_id, i)
                    size = (image_size, image_size)
                    background, photo = random_crop(rng, size, scale=(0.3, 0.95))
                    objects = sample_crowd(rng, size, min_visible=MIN_VISIBLE)
                    image, _, visible = compose(background, objects)
                    image_id = i + 1
                    file_name = f"{image_id:012d}.jpg"
                    save_jpeg(root / split / file_name, image)
                    images.append(
                        {
                            "id": image_id,
                            "file_name": file_name,
                            "height": image_size,
                            "width": image_size,
                            "background": photo,
                        }
                    )
                    for obj, mask in zip(objects, visible):
                        seg = mask_to_polygons(mask) if segmentation == "polygon" else mask_to_rle(mask)
                        anns.append(
                            {
                                "id": len(anns) + 1,
                                "image_id": image_id,
                                "category_id": SHAPES.index(obj.look.shape) + 1,
                                "segmentation": seg,
                                "area": float(mask.sum()),
                                "bbox": mask_bbox(mask),
                                "iscrowd": 0,
                                "attributes": {"colour": obj.look.colour, "texture": obj.look.texture},
                            }
                        )
                    for text in describe_scene([obj.look for obj in objects], photo):
                        caps.append({"id": len(caps) + 1, "image_id": image_id, "caption": text})
                    bar.update()
                common = {"info": info, "licenses": [], "images": images}
                write_json(
                    root / "annotations" / f"instances_{split}.json",
                    {**common, "annotations": anns, "categories": categories(split_names)},
                )
                write_json(root / "annotations" / f"captions_{split}.json", {**common, "annotations": caps})

    return generate_once(out, "coco", params, (*SPLITS, "annotations"), generate)
