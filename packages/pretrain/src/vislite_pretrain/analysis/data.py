"""The images an analysis runs on: a seeded subset of an ImageFolder split, with the evaluation transform."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch.utils.data import DataLoader, Subset

from vislite_common.data.classification import ImageFolderDataset, find_classes
from vislite_common.data.transforms import build_classification_transform


def image_loader(
    root: str | os.PathLike,
    split: str,
    *,
    img_size: int,
    batch_size: int,
    num: int | None = None,
    seed: int = 0,
    num_workers: int = 0,
    classes: list[str] | None = None,
) -> DataLoader:
    """Batches ``(images [B, 3, S, S], labels [B])`` of ``root/split`` (resize + centre crop, ImageNet statistics).

    ``num`` draws that many images at random (seeded, kept in file order, so spread over the classes) instead of
    the whole split; ``classes`` fixes the class list (e.g. the training split's).
    """
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist; expected {root}/{split}/<class>/*.jpg")
    transform = build_classification_transform(input_size=img_size, is_training=False)
    dataset = ImageFolderDataset(folder, transform=transform, classes=classes or find_classes(folder))
    if num is not None:
        if num < 1:
            raise ValueError(f"num must be >= 1, got {num}")
        if num < len(dataset):
            order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
            dataset = Subset(dataset, sorted(order[:num].tolist()))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised ``[B, 3, H, W]`` back to ``[0, 1]`` RGB for display."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=images.device).view(1, 3, 1, 1)
    return (images * std + mean).clamp(0, 1)


def _folder(loader: DataLoader) -> ImageFolderDataset:
    dataset = loader.dataset
    return dataset.dataset if isinstance(dataset, Subset) else dataset


def loader_classes(loader: DataLoader) -> list[str]:
    """Class names of an :func:`image_loader`, in label order."""
    return list(_folder(loader).classes)


def sample_paths(loader: DataLoader) -> list[str]:
    """File paths of the images an :func:`image_loader` yields, in order."""
    dataset = loader.dataset
    indices = dataset.indices if isinstance(dataset, Subset) else range(len(dataset))
    return [_folder(loader).samples[i][0] for i in indices]
