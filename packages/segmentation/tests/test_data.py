"""The ADE20K-layout data: world files read back by the ADE20K reader, label reduction, mmseg's transforms,
the datamodule's loaders and clear errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from vislite_common.data.formats.ade20k import ade20k_pairs
from vislite_common.data.formats.errors import FormatError
from vislite_common.data.samplers import augmentation_seeded
from vislite_common.engine.compose import compose_config
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


def test_random_resize_ratio_range_around_2048x512() -> None:
    transform = SegTrainTransform()  # mmseg's ADE20K defaults: scale (2048, 512), ratio 0.5-2.0
    assert transform.scale == (2048, 512) and transform.ratio_range == (0.5, 2.0)
    # the extremes by hand: a 400 x 600 image is bound by its short side (512 r), a 100 x 1000 one by its long
    # side (2048 r)
    assert SegTrainTransform(ratio_range=(0.5, 0.5)).sample_size(400, 600) == (256, 384)
    assert SegTrainTransform(ratio_range=(2.0, 2.0)).sample_size(400, 600) == (1024, 1536)
    assert SegTrainTransform(ratio_range=(2.0, 2.0)).sample_size(100, 1000) == (410, 4096)
    ratios, heights = [], []
    for seed in range(400):
        with augmentation_seeded(seed):
            ratio = transform.sample_ratio()
        with augmentation_seeded(seed):
            size = transform.sample_size(400, 600)
        assert size == keep_ratio_size(400, 600, (int(2048 * ratio), int(512 * ratio)))  # mmcv's rule
        with augmentation_seeded(seed):
            assert transform.sample_size(100, 1000)[1] == int(2048 * ratio)
        ratios.append(ratio)
        heights.append(size[0])
    assert 0.5 <= min(ratios) < 0.53 and 1.97 < max(ratios) <= 2.0
    assert 256 <= min(heights) < 272 and 1008 < max(heights) <= 1024
    assert 1.15 < float(np.mean(ratios)) < 1.35  # uniform on [0.5, 2.0]: mean 1.25


def test_random_resize_applies_the_sampled_size() -> None:
    transform = SegTrainTransform(scale=(64, 16), ratio_range=(0.5, 2.0), crop_size=16)
    image, label = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8), torch.randint(0, 3, (40, 50))
    for seed in range(3):
        with augmentation_seeded(seed):
            expected = transform.sample_size(40, 50)
        with augmentation_seeded(seed):
            out_image, out_label = transform.random_resize(image, label)
        assert tuple(out_image.shape[-2:]) == expected and tuple(out_label.shape) == expected


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


def _offsets(distort: PhotoMetricDistortion, image: np.ndarray, seeds: int = 40) -> np.ndarray:
    """Output minus input of a uniform image, one value per seed."""
    out = []
    for seed in range(seeds):
        with augmentation_seeded(seed):
            result = distort(image.copy())
        assert len(np.unique(result)) == 1  # a grey image stays grey: saturation and hue leave it alone
        out.append(int(result[0, 0, 0]) - int(image[0, 0, 0]))
    return np.array(out)


def test_photometric_brightness_and_contrast_ranges_act() -> None:
    grey = np.full((4, 4, 3), 100, np.uint8)
    brightness = _offsets(PhotoMetricDistortion(contrast_range=(1.0, 1.0)), grey)  # brightness only: +-32
    assert np.abs(brightness).max() <= 32 and np.abs(brightness).max() > 20 and (brightness == 0).any()
    contrast = _offsets(PhotoMetricDistortion(brightness_delta=0), grey) + 100  # 100 x [0.5, 1.5]
    assert contrast.min() >= 50 and contrast.max() <= 150 and contrast.min() < 65 and contrast.max() > 135
    small = _offsets(PhotoMetricDistortion(brightness_delta=4, contrast_range=(1.0, 1.0)), grey)
    assert np.abs(small).max() <= 4


def test_photometric_hue_delta_acts() -> None:
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255  # hue 0

    def hue_shifts(hue_delta: int) -> list[int]:
        distort = PhotoMetricDistortion(brightness_delta=0, contrast_range=(1.0, 1.0), hue_delta=hue_delta)
        shifts = []
        for seed in range(40):
            with augmentation_seeded(seed):
                hue = int(cv2.cvtColor(distort(red.copy()), cv2.COLOR_RGB2HSV)[0, 0, 0])
            shifts.append(hue if hue < 90 else hue - 180)  # OpenCV hue is 0-179
        return shifts

    wide, narrow = hue_shifts(18), hue_shifts(3)
    assert max(abs(h) for h in wide) <= 18 and max(abs(h) for h in wide) > 10
    assert max(abs(h) for h in narrow) <= 3


def test_recipe_photometric_parameters_reach_the_transform(tmp_path: Path) -> None:
    def train_transform(*overrides: str) -> SegTrainTransform:
        cfg = compose_config(
            "vislite_segmentation.configs",
            ["experiment=semfpn_vit_tiny_ade20k", f"paths.data_dir={tmp_path}", *overrides],
            output_dir=tmp_path,
        )
        return instantiate(cfg.data, _convert_="all").train_transform

    recipe = train_transform()
    assert (recipe.scale, recipe.ratio_range, recipe.crop_size) == ((2048, 512), (0.5, 2.0), 512)
    distort = recipe.distort  # mmseg's PhotoMetricDistortion defaults
    assert (distort.brightness_delta, distort.contrast_range) == (32, (0.5, 1.5))
    assert (distort.saturation_range, distort.hue_delta) == ((0.5, 1.5), 18)
    changed = train_transform("data.brightness_delta=8", "data.contrast_range=[0.8,1.2]", "data.hue_delta=5").distort
    assert (changed.brightness_delta, changed.contrast_range, changed.hue_delta) == (8, (0.8, 1.2), 5)
    assert train_transform("data.photometric=false").distort is None


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
