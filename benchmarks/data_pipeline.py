"""Decoded-and-augmented images per second: the vislite ImageFolder loader against torchvision's ImageFolder.

Both read the same JPEGs (crops of the real photographs shipped with scikit-image) with the same
augmentation arguments (RandomResizedCrop scale (0.08, 1), horizontal flip, normalisation - the MAE-lite
pre-training pipeline) through the same DataLoader settings; the reference decodes with PIL and runs timm's
``create_transform``, vislite decodes with torchvision into uint8 tensors and runs the same steps in
``transforms.v2``. Prints both rates and their ratio.

    python benchmarks/data_pipeline.py --images 600 --size 256 --input-size 224 --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timm.data import create_transform
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from vislite_common.data.classification import ImageFolderDataset
from vislite_common.data.transforms import build_classification_transform

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def write_image_folder(root: Path, images: int, size: int, seed: int = 0) -> None:
    """``images`` JPEG crops (``size`` px, quality 90) of scikit-image photos in 4 class folders."""
    from skimage import data

    photos = [getattr(data, name)() for name in PHOTOS]
    rng = np.random.default_rng(seed)
    for i in range(images):
        photo = photos[i % len(photos)]
        side = int(rng.integers(min(photo.shape[:2]) // 2, min(photo.shape[:2]) + 1))
        y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        crop = Image.fromarray(photo[y : y + side, x : x + side]).convert("RGB").resize((size, size), Image.BICUBIC)
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{i:05d}.jpg", quality=90)


def images_per_second(loader: DataLoader, repeats: int) -> float:
    """Best rate over ``repeats`` full passes (the first pass also warms the page cache and workers)."""
    best = 0.0
    for _ in range(repeats + 1):
        start, count = time.perf_counter(), 0
        for images, _ in loader:
            count += images.shape[0]
        best = max(best, count / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=256, help="side of the stored JPEGs")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = dict(scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=0.5, interpolation="bilinear")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_image_folder(root, args.images, args.size)
        reference = ImageFolder(root, transform=create_transform(args.input_size, is_training=True, **common))
        ours = ImageFolderDataset(root, transform=build_classification_transform(
            input_size=args.input_size, is_training=True, **common))
        loader_args = dict(batch_size=args.batch, num_workers=args.workers, shuffle=True,
                           persistent_workers=args.workers > 0)
        ref_rate = images_per_second(DataLoader(reference, **loader_args), args.repeats)
        our_rate = images_per_second(DataLoader(ours, **loader_args), args.repeats)
    print(f"images: {args.images} JPEGs of {args.size} px -> {args.input_size} px, workers {args.workers}")
    print(f"torchvision ImageFolder + PIL + timm transforms: {ref_rate:8.1f} img/s")
    print(f"vislite ImageFolderDataset (tensor decode + v2):  {our_rate:8.1f} img/s")
    print(f"ratio vislite / reference: {our_rate / ref_rate:.2f}x")


if __name__ == "__main__":
    main()
