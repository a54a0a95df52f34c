"""ImageFolder classification: the dataset (fast decode) and its datamodule."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms.functional import to_pil_image

from vislite_common.data.datamodule import VisliteDataModule
from vislite_common.data.samplers import SeededIndex, seeded_augmentation, split_index
from vislite_common.data.decode import IMAGE_EXTENSIONS, decode_image_file, load_pil
from vislite_common.data.transforms import ClassificationTransform, build_classification_transform


def find_classes(split_dir: Path) -> list[str]:
    """Sorted class folder names of an ImageFolder split, as torchvision's ``ImageFolder`` finds them."""
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir} does not exist; expected an ImageFolder split {split_dir}/<class>/*.jpg")
    classes = sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"{split_dir} has no class folders; expected {split_dir}/<class>/*.jpg")
    return classes


class ImageFolderDataset(Dataset):
    """``root/<class>/<image>`` samples as ``(image tensor, class index)``, classes as in torchvision."""

    def __init__(self, root: str | os.PathLike, *, transform: ClassificationTransform | None = None,
                 classes: list[str] | None = None) -> None:
        self.root = Path(root)
        self.classes = classes or find_classes(self.root)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = []
        for name in self.classes:
            folder = self.root / name
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} is missing; every split needs the same class folders")
            files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
            self.samples.extend((str(folder / f), self.class_to_idx[name]) for f in files)
        if not self.samples:
            raise FileNotFoundError(f"no images under {self.root}; expected {self.root}/<class>/*.jpg")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: int | SeededIndex) -> tuple[torch.Tensor, int]:
        index, seed = split_index(item)
        path, label = self.samples[index]
        if self.transform is None:
            return decode_image_file(path), label
        image = load_pil(path) if self.transform.needs_pil else decode_image_file(path)
        with seeded_augmentation(seed):
            return self.transform(image), label

    def pil_image(self, index: int):
        """The sample as a PIL image (for plots)."""
        return to_pil_image(decode_image_file(self.samples[index][0]))


class ImageFolderDataModule(VisliteDataModule):
    """Train/val(/test) ImageFolder splits under ``root`` with timm-style transforms.

    ``num_classes``, when given, must equal the number of class folders (a clear error otherwise).
    """

    def __init__(
        self,
        *,
        root: str,
        batch_size: int,
        num_classes: int | None = None,
        input_size: int = 224,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str | None = "val",
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: float = 0.5,
        color_jitter: float | None = None,
        auto_augment: str | None = None,
        interpolation: str = "bicubic",
        re_prob: float = 0.0,
        crop_pct: float = 0.875,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        seed: int = 0,
        drop_last_train: bool = True,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                         persistent_workers=persistent_workers, seed=seed, drop_last_train=drop_last_train)
        self.root = root
        self.num_classes = num_classes
        self.input_size = input_size
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.train_transform = build_classification_transform(
            input_size=input_size, is_training=True, scale=scale, ratio=ratio, hflip=hflip,
            color_jitter=color_jitter, auto_augment=auto_augment, interpolation=interpolation, re_prob=re_prob,
        )
        self.eval_transform = build_classification_transform(
            input_size=input_size, is_training=False, interpolation=interpolation, crop_pct=crop_pct
        )
        self.classes: list[str] = []

    def build_datasets(self, stage: str | None) -> dict:
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"data root {root} does not exist; expected {root}/{self.splits['train']}/<class>/")
        self.classes = find_classes(root / self.splits["train"])
        if self.num_classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(
                f"num_classes={self.num_classes} but {root / self.splits['train']} has {len(self.classes)} class "
                f"folders ({', '.join(self.classes[:10])}{', ...' if len(self.classes) > 10 else ''})"
            )
        datasets = {}
        for split, folder in self.splits.items():
            if folder is None:
                continue
            transform = self.train_transform if split == "train" else self.eval_transform
            datasets[split] = ImageFolderDataset(root / folder, transform=transform, classes=self.classes)
        return datasets
