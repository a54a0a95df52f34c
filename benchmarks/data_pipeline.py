"""Decoded-and-augmented images per second: the vislite ImageFolder loader against torchvision's ImageFolder.

Two measurements, both in this run, on the same files:

1. Decoders alone (one thread): torchvision ``decode_jpeg`` against PIL ``Image.open().convert("RGB")`` on
   ~200 small JPEGs (64-256 px), also to the other side's output type. The faster one is
   ``vislite_common.data.decode.DEFAULT_DECODER``.
2. Loaders: vislite's training loader (``ImageFolderDataModule.train_dataloader()``: ``ImageFolderDataset``,
   seeded per-sample augmentation, ``build_classification_transform``) against ``torchvision.datasets.ImageFolder``
   (PIL loader) with timm's ``create_transform``, built from the SAME arguments (RandomResizedCrop, flip, optional
   colour jitter, normalisation), through DataLoaders with the same batch size, worker count and shuffling. A
   third row feeds timm's own PIL pipeline from vislite's decoder, to separate the decoder's and the tensor
   transforms' shares.

The images are random crops of the photographs shipped with scikit-image, resized and saved as JPEG (quality 90)
in a temporary ImageFolder.

    python benchmarks/data_pipeline.py --images 400 --size 256 --workers 2 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timm.data import create_transform
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms.functional import pil_to_tensor, to_pil_image

from vislite_common.data.classification import ImageFolderDataModule, ImageFolderDataset
from vislite_common.data.decode import DEFAULT_DECODER, decode_image_file, load_pil

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "cat")


def _photos() -> list[np.ndarray]:
    from skimage import data

    photos = []
    for name in PHOTOS:
        image = getattr(data, name, None)
        if image is not None:
            array = image()
            photos.append(np.stack([array] * 3, -1) if array.ndim == 2 else array[..., :3])
    return photos


def write_jpegs(
    folder: Path, count: int, sides: Callable[[np.random.Generator], int], *, classes: int = 1, seed: int = 0
) -> None:
    """``count`` JPEGs (random square crops of scikit-image photos, resized to ``sides(rng)`` px) in class folders."""
    photos = _photos()
    rng = np.random.default_rng(seed)
    for i in range(count):
        photo = photos[i % len(photos)]
        short = min(photo.shape[:2])
        crop = int(rng.integers(short // 3, short + 1))
        y, x = rng.integers(0, photo.shape[0] - crop + 1), rng.integers(0, photo.shape[1] - crop + 1)
        side = sides(rng)
        image = Image.fromarray(photo[y : y + crop, x : x + crop]).resize((side, side), Image.BICUBIC)
        target = folder / f"class{i % classes}"
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"{i:05d}.jpg", quality=90)


def decode_rates(paths: list[str], repeats: int) -> dict[str, float]:
    """Best images/s over ``repeats`` passes for each decoding route (after one warm-up pass)."""
    routes: dict[str, Callable[[str], object]] = {
        "torchvision decode_jpeg -> tensor": decode_image_file,
        "PIL open().convert('RGB') -> PIL": load_pil,
        "torchvision -> to_pil_image -> PIL": lambda p: to_pil_image(decode_image_file(p)),
        "PIL -> pil_to_tensor -> tensor": lambda p: pil_to_tensor(load_pil(p)),
    }
    best = dict.fromkeys(routes, 0.0)
    for _ in range(repeats + 1):
        for name, route in routes.items():
            start = time.perf_counter()
            for path in paths:
                route(path)
            best[name] = max(best[name], len(paths) / (time.perf_counter() - start))
    return best


def _pass(loader: Iterable) -> float:
    start, count = time.perf_counter(), 0
    for images, _ in loader:
        count += images.shape[0]
    return count / (time.perf_counter() - start)


def loader_rates(loaders: dict[str, DataLoader], repeats: int) -> dict[str, float]:
    """Best images/s of full passes, the loaders taking turns (a first warm-up pass starts the workers)."""
    best = dict.fromkeys(loaders, 0.0)
    for turn in range(repeats + 1):
        for name, loader in loaders.items():
            rate = _pass(loader)
            if turn:
                best[name] = max(best[name], rate)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="JPEGs in the training folder")
    parser.add_argument("--size", type=int, default=256, help="side of the stored training JPEGs, px")
    parser.add_argument("--input-size", type=int, default=224, help="side of the augmented crops, px")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per loader (best counts)")
    parser.add_argument("--decode-images", type=int, default=200, help="64-256 px JPEGs for the decoder timing")
    parser.add_argument("--interpolation", default="bicubic", choices=("bilinear", "bicubic"))
    parser.add_argument("--color-jitter", type=float, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread per process, as in DataLoader workers

    augment = dict(
        scale=(0.08, 1.0),
        ratio=(3 / 4, 4 / 3),
        hflip=0.5,
        color_jitter=args.color_jitter,
        interpolation=args.interpolation,
    )  # explicit: timm's own default colour jitter is 0.4
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_jpegs(root / "decode", args.decode_images, lambda rng: int(rng.integers(64, 257)), seed=1)
        write_jpegs(root / "train", args.images, lambda rng: args.size, classes=4)
        (root / "val").symlink_to(root / "train")

        decode_paths = sorted(str(p) for p in (root / "decode").rglob("*.jpg"))
        decoders = decode_rates(decode_paths, args.repeats)

        module = ImageFolderDataModule(
            root=root,
            batch_size=args.batch,
            num_workers=args.workers,
            input_size=args.input_size,
            pin_memory=False,
            **augment,
        )
        module.setup("fit")
        timm_train = create_transform(args.input_size, is_training=True, **augment)
        loader_args = dict(
            batch_size=args.batch,
            num_workers=args.workers,
            shuffle=True,
            drop_last=True,
            persistent_workers=args.workers > 0,
            generator=torch.Generator().manual_seed(0),
        )
        loaders = {
            "torchvision ImageFolder (PIL decode) + timm create_transform": DataLoader(
                ImageFolder(str(root / "train"), transform=timm_train), **loader_args
            ),
            "vislite decode + timm create_transform (PIL)": DataLoader(
                ImageFolderDataset(root / "train", transform=timm_train), **loader_args
            ),
            "vislite ImageFolderDataModule.train_dataloader()": module.train_dataloader(),
        }
        rates = loader_rates(loaders, args.repeats)

    print(f"decoders, {len(decode_paths)} JPEGs of 64-256 px, one thread (best of {args.repeats}):")
    for name, rate in decoders.items():
        print(f"  {name:<40} {rate:8.0f} img/s")
    tv, pil = decoders["torchvision decode_jpeg -> tensor"], decoders["PIL open().convert('RGB') -> PIL"]
    print(
        f"  torchvision / PIL: {tv / pil:.2f}x; faster: {'torchvision' if tv > pil else 'pil'}; "
        f"DEFAULT_DECODER = {DEFAULT_DECODER!r}"
    )
    print(
        f"\nloaders, {args.images} JPEGs of {args.size} px -> {args.input_size} px crops, {args.interpolation}, "
        f"colour jitter {args.color_jitter}, batch {args.batch}, workers {args.workers} (best of {args.repeats}):"
    )
    for name, rate in rates.items():
        print(f"  {name:<55} {rate:8.1f} img/s")
    names = list(rates)
    print(
        f"ratio vislite / torchvision ImageFolder: {rates[names[2]] / rates[names[0]]:.2f}x "
        f"(vislite decode alone: {rates[names[1]] / rates[names[0]]:.2f}x)"
    )


if __name__ == "__main__":
    main()
