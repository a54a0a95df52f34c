"""Datamodules: global batch split, ImageFolder loading, clear errors, seeded augmentation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from vislite_common.data.classification import ImageFolderDataModule, ImageFolderDataset
from vislite_common.data.samplers import EpochShuffleSampler
from vislite_common.data.transforms import build_classification_transform


def _image_folder(root: Path, classes=("cat", "dog", "fox"), per_class: int = 4, size: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
    return root


def _module(root: Path, **kwargs) -> ImageFolderDataModule:
    return ImageFolderDataModule(root=str(root), input_size=32, **{"batch_size": 4, **kwargs})


@pytest.mark.parametrize(("world", "per_device"), [(1, 8), (2, 4), (4, 2)])
def test_global_batch_is_split_over_devices(tmp_path: Path, world: int, per_device: int) -> None:
    module = _module(_image_folder(tmp_path), batch_size=8)
    module.trainer = SimpleNamespace(world_size=world)
    module.setup("fit")
    assert module.per_device_batch_size == per_device
    assert next(iter(module.train_dataloader()))[0].shape == (per_device, 3, 32, 32)


def test_batch_that_does_not_divide_is_an_error(tmp_path: Path) -> None:
    module = _module(_image_folder(tmp_path), batch_size=8)
    module.trainer = SimpleNamespace(world_size=3)
    with pytest.raises(ValueError, match="batch_size 8 does not divide over 3 devices"):
        module.setup("fit")


def test_image_folder_matches_torchvision_classes(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    root = _image_folder(tmp_path)
    ours, reference = ImageFolderDataset(root / "train"), ImageFolder(root / "train")
    assert ours.classes == reference.classes
    assert [(Path(p).name, y) for p, y in ours.samples] == [(Path(p).name, y) for p, y in reference.samples]
    image, label = ours[5]
    assert image.dtype == torch.uint8 and image.shape == (3, 40, 40) and label == 1


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data root .* does not exist"):
        _module(tmp_path / "nowhere").setup("fit")
    (tmp_path / "empty" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images under"):
        _module(tmp_path / "empty").setup("fit")
    with pytest.raises(ValueError, match="num_classes=10 but .* has 3 class folders"):
        _module(_image_folder(tmp_path / "ok"), num_classes=10).setup("fit")


def test_augmentation_is_seeded_per_sample_and_epoch(tmp_path: Path) -> None:
    root = _image_folder(tmp_path)
    transform = build_classification_transform(input_size=24, is_training=True)
    dataset = ImageFolderDataset(root / "train", transform=transform)
    sampler = EpochShuffleSampler(dataset, seed=3)
    first, again = list(sampler), list(sampler)
    assert first == again
    torch.manual_seed(123)  # global state must not matter
    a = dataset[first[0]][0]
    torch.manual_seed(999)
    b = dataset[first[0]][0]
    torch.testing.assert_close(a, b)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_timm_recipe_transforms_run_on_pil(tmp_path: Path) -> None:
    transform = build_classification_transform(
        input_size=32, is_training=True, auto_augment="rand-m10-mstd0.5-inc1", color_jitter=0.3
    )
    assert transform.needs_pil
    dataset = ImageFolderDataset(_image_folder(tmp_path) / "train", transform=transform)
    assert dataset[(0, 7)][0].shape == (3, 32, 32)
