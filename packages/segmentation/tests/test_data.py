"""The ADE20K-layout data: world files read back by the ADE20K reader, label reduction, mmseg's transforms,
the datamodule's loaders and clear errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vislite_common.data.formats.ade20k import ade20k_pairs
from vislite_common.data.formats.errors import FormatError
from vislite_common.data.samplers import augmentation_seeded
from vislite_segmentation.data import SegEvalTransform, SegmentationDataset, SegTrainTransform
from vislite_segmentation.data.datamodule import SegmentationDataModule
from vislite_segmentation.data.photometric import PhotoMetricDistortion
from vislite_segmentation.data.transforms import keep_ratio_size


def test_world_labels_are_reduced_like_ade20k(data_dir: Path) -> None:
    root = data_dir / "world" / "ade20k"
    pairs = ade20k_pairs(root, "training")
    dataset = SegmentationDataset(pairs, num_classes=11)
    raw = np.array(Image.open(pairs[0][1]))
    label = dataset.label(0).numpy()
    assert np.all(label[raw == 0] == 255)
    assert np.array_equal(label[raw > 0], raw[raw > 0].astype(np.int64) - 1)
    assert label[label != 255].max() <= 10


def test_keep_ratio_size_matches_mmcv() -> None:
    assert keep_ratio_size(400, 600, (2048, 512)) == (512, 768)
    assert keep_ratio_size(100, 1000, (2048, 512)) == (205, 2048)  # long side bound
    assert keep_ratio_size(128, 128, (1024, 256)) == (256, 256)


def _blocks_label() -> torch.Tensor:
    label = torch.zeros(200, 200, dtype=torch.int64)  # class 0 dominates; class 1 only in one corner
    label[:60, :60] = 1
    return label


def test_train_transform_shapes_padding_and_determinism() -> None:
    transform = SegTrainTransform(scale=(256, 64), ratio_range=(0.5, 2.0), crop_size=64)
    image = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    label = torch.randint(0, 3, (40, 50))
    with augmentation_seeded(1):
        a = transform(image, label)
    with augmentation_seeded(1):
        b = transform(image, label)
    assert a[0].shape == (3, 64, 64) and a[1].shape == (64, 64) and a[0].dtype == torch.float32
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    small = SegTrainTransform(scale=(64, 16), ratio_range=(1.0, 1.0), crop_size=64, photometric=False)
    image_s, label_s = small(image, label)  # resized to 16 x 20, padded to 64
    assert (label_s[16:] == 255).all() and (label_s[:, 20:] == 255).all()
    assert (image_s[:, 16:] == 0).all()


def test_cat_max_ratio_rejects_single_class_crops() -> None:
    label = _blocks_label()
    strict = SegTrainTransform(crop_size=64, cat_max_ratio=0.75)
    loose = SegTrainTransform(crop_size=64, cat_max_ratio=1.0)

    def mixed_fraction(transform: SegTrainTransform) -> float:
        hits = 0
        for seed in range(40):
            with augmentation_seeded(seed):
                y1, y2, x1, x2 = transform.crop_box(label)
            counts = torch.bincount(label[y1:y2, x1:x2].flatten(), minlength=2)
            hits += int(counts.min() > 0 and counts.max() / counts.sum() < 0.75)
        return hits / 40

    assert mixed_fraction(strict) > mixed_fraction(loose) + 0.3


def test_photometric_distortion_keeps_shape_and_changes_colours() -> None:
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    changed = 0
    for seed in range(5):
        with augmentation_seeded(seed):
            out = PhotoMetricDistortion()(image.copy())
        assert out.shape == image.shape and out.dtype == np.uint8
        changed += int(not np.array_equal(out, image))
    assert changed >= 3


def test_eval_transform_resizes_the_image_only() -> None:
    image, label = torch.randint(0, 256, (3, 100, 150), dtype=torch.uint8), torch.zeros(100, 150, dtype=torch.int64)
    out_image, out_label = SegEvalTransform(scale=(2048, 512))(image, label)
    assert out_image.shape == (3, 512, 768) and out_label.shape == (100, 150)


def test_datamodule_loaders(data_dir: Path) -> None:
    dm = SegmentationDataModule(
        root=data_dir / "world" / "ade20k", num_classes=11, batch_size=4, scale=(256, 64), crop_size=64,
        eval_scale=(256, 64),
    )  # fmt: skip
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 64, 64) and labels.shape == (4, 64, 64)
    val_images, val_labels = next(iter(dm.val_dataloader()))
    assert isinstance(val_images, list) and len(val_images) == 4 and val_labels[0].shape == (64, 64)
    with pytest.raises(ValueError, match="class_names has 2 entries"):
        SegmentationDataModule(root=data_dir, num_classes=3, batch_size=2, class_names=["a", "b"])


def _pair(tmp_path: Path, label: np.ndarray, mode: str = "L", size: tuple[int, int] = (8, 8)) -> list:
    image_path, label_path = tmp_path / "a.jpg", tmp_path / "a.png"
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(image_path)
    Image.fromarray(label).convert(mode).save(label_path)
    return [(image_path, label_path)]


def test_malformed_labels_are_named(tmp_path: Path) -> None:
    out_of_range = _pair(tmp_path, np.full((8, 8), 40, np.uint8))
    with pytest.raises(FormatError, match=r"a\.png.*label value 40 is outside the 11 classes"):
        SegmentationDataset(out_of_range, num_classes=11)[0]
    rgb = _pair(tmp_path, np.zeros((8, 8), np.uint8), mode="RGB")
    with pytest.raises(FormatError, match="single-channel"):
        SegmentationDataset(rgb, num_classes=11)[0]
    wrong_size = _pair(tmp_path, np.zeros((8, 8), np.uint8), size=(9, 8))
    with pytest.raises(FormatError, match="differs from image size"):
        SegmentationDataset(wrong_size, num_classes=11)[0]


def test_configurable_ignore_value_without_zero_reduction(tmp_path: Path) -> None:
    label = np.zeros((8, 8), np.uint8)
    label[0] = 7  # this dataset marks unlabelled pixels with 7
    dataset = SegmentationDataset(_pair(tmp_path, label), num_classes=3, reduce_zero_label=False, ignore_index=7)
    out = dataset.label(0)
    assert (out[0] == 255).all() and (out[1:] == 0).all()
