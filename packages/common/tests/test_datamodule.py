"""Datamodules: global batch split, ImageFolder loading and decoding, clear errors, seeded order and augmentation."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.functional import pil_to_tensor

from vislite_common.data.classification import (
    ImageFolderDataModule,
    ImageFolderDataset,
    build_classification_transform,
)
from vislite_common.data.datamodule import EpochShuffleIndices, VisliteDataModule
from vislite_common.data.decode import DEFAULT_DECODER, ImageDecodeError, decode_image_file, load_image
from vislite_common.data.samplers import EpochShuffleSampler

CLASSES = ("cat", "dog", "fox")


def _image_folder(root: Path, classes=CLASSES, per_class: int = 4, size: int = 40) -> Path:
    """``root/{train,val}/<class>/<i>.jpg``: smooth random images (JPEG-friendly), 4 per class."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                small = rng.integers(0, 255, (5, 5, 3), dtype=np.uint8)
                Image.fromarray(small).resize((size, size), Image.BILINEAR).save(folder / f"{i}.jpg", quality=95)
    return root


def _module(root: Path, **kwargs) -> ImageFolderDataModule:
    return ImageFolderDataModule(root=str(root), input_size=32, **{"batch_size": 4, **kwargs})


# ----------------------------------------------------------------------------------------------------- batch split
@pytest.mark.parametrize(("world", "per_device"), [(1, 8), (2, 4), (4, 2)])
def test_global_batch_is_split_over_devices(tmp_path: Path, world: int, per_device: int) -> None:
    module = _module(_image_folder(tmp_path), batch_size=8)
    module.trainer = SimpleNamespace(world_size=world)
    module.setup("fit")
    assert module.per_device_batch_size == per_device
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (per_device, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (per_device,)


def test_batch_that_does_not_divide_is_an_error(tmp_path: Path) -> None:
    module = _module(_image_folder(tmp_path), batch_size=8)
    module.trainer = SimpleNamespace(world_size=3)
    with pytest.raises(ValueError, match="batch_size 8 does not divide over 3 devices"):
        module.setup("fit")
    module.trainer = None
    assert module.per_device_batch_size == 8  # no trainer: one device


def test_loader_settings(tmp_path: Path) -> None:
    module = _module(_image_folder(tmp_path), batch_size=4, num_workers=0)
    assert module.pin_memory == torch.cuda.is_available()
    module.setup("fit")
    train, val = module.train_dataloader(), module.val_dataloader()
    assert train.drop_last and not val.drop_last
    assert not train.persistent_workers  # only meaningful with workers
    assert isinstance(train.sampler, EpochShuffleSampler)
    assert [y.tolist() for _, y in val] == [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]]  # in order
    assert _module(tmp_path, num_workers=2, pin_memory=False)._loader_args()["persistent_workers"]


class _Squares(Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> int:
        assert isinstance(index, int)
        return index


class _SquaresModule(VisliteDataModule):
    def build_datasets(self, stage: str | None) -> dict[str, Dataset]:
        return {"train": _Squares()}


def test_plain_datasets_get_plain_seeded_indices() -> None:
    module = _SquaresModule(batch_size=5, seed=1)
    module.setup("fit")
    loader = module.train_dataloader()
    assert isinstance(loader.sampler, EpochShuffleIndices)
    order = torch.cat(list(loader)).tolist()
    assert sorted(order) == list(range(10)) and order != list(range(10))
    assert torch.cat(list(module.train_dataloader())).tolist() == order  # the same seed and epoch: same order
    loader.sampler.set_epoch(1)
    assert torch.cat(list(loader)).tolist() != order


# ----------------------------------------------------------------------------------------------------------- decode
def test_decoder_matches_pil_and_handles_formats(tmp_path: Path) -> None:
    assert DEFAULT_DECODER in ("torchvision", "pil")
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (12, 20, 3), dtype=np.uint8)
    files = {
        "rgb.png": Image.fromarray(rgb),
        "gray.png": Image.fromarray(rgb).convert("L"),
        "rgba.png": Image.fromarray(rgb).convert("RGBA"),
        "palette.png": Image.fromarray(rgb).convert("P"),
        "gray.jpg": Image.fromarray(rgb).convert("L"),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
        "rgb.bmp": Image.fromarray(rgb),  # torchvision cannot decode BMP, PPM or TIFF: PIL takes over
        "rgb.ppm": Image.fromarray(rgb),
        "rgb.tif": Image.fromarray(rgb),
        "rgb.webp": Image.fromarray(rgb),
    }
    for name, image in files.items():
        image.save(tmp_path / name)
    for name in files:
        tensor = decode_image_file(tmp_path / name)
        assert tensor.dtype == torch.uint8 and tensor.shape == (3, 12, 20), name
        reference = pil_to_tensor(Image.open(tmp_path / name).convert("RGB"))
        if name.endswith(("png", "bmp", "ppm", "tif")):  # lossless: identical pixels
            assert torch.equal(tensor, reference), name
        else:  # libjpeg-turbo / libwebp builds may round differently
            assert (tensor.float() - reference.float()).abs().mean() < 3, name
    deep = tmp_path / "deep.png"
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(deep)  # 16-bit grayscale
    assert torch.equal(decode_image_file(deep), torch.from_numpy(rgb[..., 0]).expand(3, -1, -1))
    assert load_image(tmp_path / "rgb.png", as_pil=True).size == (20, 12)
    assert torch.equal(load_image(tmp_path / "rgb.png", decoder="pil"), decode_image_file(tmp_path / "rgb.png"))


def test_decode_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    good = tmp_path / "good.jpg"
    Image.new("RGB", (16, 16), "red").save(good)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:120])
    for name in ("junk.jpg", "cut.jpg"):
        with pytest.raises(ImageDecodeError, match=rf"cannot decode image .*{name}"):
            decode_image_file(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"image file .*nope\.jpg does not exist"):
        decode_image_file(tmp_path / "nope.jpg")
    with pytest.raises(FileNotFoundError, match=r"nope\.jpg does not exist"):
        load_image(tmp_path / "nope.jpg", decoder="pil")


# ---------------------------------------------------------------------------------------------------- ImageFolder
def test_image_folder_matches_torchvision(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    root = _image_folder(tmp_path) / "train"
    (root / "dog" / "nested").mkdir()
    Image.new("RGB", (8, 8)).save(root / "dog" / "nested" / "deep.JPG")  # sub-folders and upper-case extensions
    (root / "dog" / "notes.txt").write_text("not an image")
    ours, reference = ImageFolderDataset(root), ImageFolder(str(root))
    assert ours.classes == reference.classes == list(CLASSES)
    assert ours.class_to_idx == reference.class_to_idx
    assert ours.samples == reference.samples and ours.targets == reference.targets
    image, label = ours[5]
    assert image.dtype == torch.uint8 and image.shape == (3, 40, 40) and label == 1
    reference_image = pil_to_tensor(reference[5][0])
    assert (image.float() - reference_image.float()).abs().mean() < 3  # the same picture


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data root .*nowhere does not exist; expected .*/train/<class>"):
        _module(tmp_path / "nowhere").setup("fit")
    (tmp_path / "empty" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no images under .*empty/train; expected .*/train/<class>/\*\.jpg"):
        _module(tmp_path / "empty").setup("fit")
    root = _image_folder(tmp_path / "ok")
    with pytest.raises(ValueError, match=r"num_classes=10 but .*train has 3 class folders \(cat, dog, fox\)"):
        _module(root, num_classes=10).setup("fit")
    with pytest.raises(FileNotFoundError, match=r"val split folder .*ok/holdout does not exist"):
        _module(root, val_split="holdout").setup("fit")
    (root / "train" / "owl").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no images in class folder\(s\) owl of .*train"):
        ImageFolderDataset(root / "train")
    assert len(ImageFolderDataset(root / "train", allow_empty=True).classes) == 4
    Image.new("RGB", (8, 8)).save(root / "train" / "owl" / "0.jpg")
    with pytest.raises(FileNotFoundError, match=r"class folder .*val/owl is missing"):
        _module(root).setup("fit")


def test_datamodule_splits_and_classes(tmp_path: Path) -> None:
    module = _module(_image_folder(tmp_path), test_split=None)
    module.setup("fit")
    assert sorted(module.datasets) == ["train", "val"] and module.num_classes == 3 and module.classes == list(CLASSES)
    module.setup("test")  # no test split configured
    assert "test" not in module.datasets
    module = _module(tmp_path, num_classes=3)
    module.setup("test")
    assert sorted(module.datasets) == ["test"]
    assert module.test_dataloader().dataset.root == tmp_path / "val"


def test_train_fraction_is_a_seeded_class_balanced_subset(tmp_path: Path) -> None:
    root = _image_folder(tmp_path, per_class=8)
    full = _module(root)
    full.setup("fit")
    half = _module(root, train_fraction=0.5, seed=3)
    half.setup("fit")
    train = half.datasets["train"]
    assert len(train) == 12 and sorted(train.targets) == [0] * 4 + [1] * 4 + [2] * 4
    assert set(train.samples) < set(full.datasets["train"].samples)
    assert len(half.datasets["val"]) == len(full.datasets["val"]) == 24  # only the training split shrinks
    again = _module(root, train_fraction=0.5, seed=4)  # another training seed: the same labelled images
    again.setup("fit")
    assert again.datasets["train"].samples == train.samples
    other = _module(root, train_fraction=0.5, subset_seed=1)
    other.setup("fit")
    assert other.datasets["train"].samples != train.samples
    tiny = _module(root, train_fraction=0.01)
    tiny.setup("fit")
    assert sorted(tiny.datasets["train"].targets) == [0, 1, 2]  # at least one image per class
    with pytest.raises(ValueError, match="train_fraction must be in"):
        _module(root, train_fraction=0.0)


# ------------------------------------------------------------------------------------------------------ transforms
def test_transform_output_shapes(tmp_path: Path) -> None:
    root = _image_folder(tmp_path) / "train"
    train = build_classification_transform(input_size=24, is_training=True, color_jitter=0.4)
    evaluation = build_classification_transform(input_size=24, is_training=False, crop_pct=0.9)
    recipe = build_classification_transform(
        input_size=24, is_training=True, auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25
    )
    assert not train.needs_pil and not evaluation.needs_pil and recipe.needs_pil  # timm's PIL-only recipes
    for transform in (train, evaluation, recipe):
        image, _ = ImageFolderDataset(root, transform=transform)[(3, 11)]
        assert image.shape == (3, 24, 24) and image.dtype == torch.float32
        assert -3 < image.mean() < 3  # normalised


def test_eval_transform_matches_timm(tmp_path: Path) -> None:
    from timm.data import create_transform

    root = _image_folder(tmp_path, size=64) / "val"
    ours = ImageFolderDataset(root, transform=build_classification_transform(input_size=32, is_training=False))
    timm_eval = ImageFolderDataset(root, transform=create_transform(32, is_training=False, interpolation="bicubic"))
    assert timm_eval.as_pil  # an arbitrary callable gets PIL images, as with torchvision's ImageFolder
    difference = (ours[0][0] - timm_eval[0][0]).abs().mean()
    assert difference < 0.1  # same resize + centre crop + normalisation (PIL and torch resamplers differ slightly)


# ---------------------------------------------------------------------------------------------------- determinism
def _epoch(module: ImageFolderDataModule) -> tuple[list[int], torch.Tensor]:
    batches = list(module.train_dataloader())
    return torch.cat([y for _, y in batches]).tolist(), torch.cat([x for x, _ in batches])


def test_train_loader_is_seeded(tmp_path: Path) -> None:
    root = _image_folder(tmp_path, per_class=6)
    settings = [(0, 0), (0, 2), (1, 0)]  # (seed, workers)
    modules = [_module(root, seed=seed, batch_size=4, num_workers=workers) for seed, workers in settings]
    for module in modules:
        module.setup("fit")
    torch.manual_seed(123)  # the global generators must not matter
    labels, images = _epoch(modules[0])
    torch.manual_seed(999)
    random.seed(999)
    again_labels, again_images = _epoch(modules[1])  # same seed, two worker processes
    assert labels == again_labels
    torch.testing.assert_close(images, again_images, rtol=0, atol=0)  # same order and same augmentation
    other_labels, _ = _epoch(modules[2])
    assert sorted(labels) == sorted(other_labels) and labels != other_labels
    sampler = modules[0].train_dataloader().sampler
    sampler.set_epoch(1)  # Lightning calls this every epoch: a new order
    assert [i for i, _ in sampler] != [i for i, _ in EpochShuffleSampler(sampler.data, seed=0)]


def test_timm_recipe_augmentation_is_seeded_per_sample(tmp_path: Path) -> None:
    transform = build_classification_transform(input_size=32, is_training=True, auto_augment="rand-m9-n3-mstd0.5")
    dataset = ImageFolderDataset(_image_folder(tmp_path) / "train", transform=transform)
    np.random.seed(1)
    first = dataset[(0, 7)][0]
    np.random.seed(2)  # RandAugment draws its ops from numpy's global generator
    random.seed(2)
    torch.manual_seed(2)
    torch.testing.assert_close(dataset[(0, 7)][0], first, rtol=0, atol=0)
    assert not torch.equal(dataset[(0, 8)][0], first)
