"""The reference's pair sampler: frame ids, dataset mixing, crops and targets on the embedded world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vislite_tracking.data import load_sequences
from vislite_tracking.data.datamodule import TrackingDataModule
from vislite_tracking.data.sampler import CropSettings, TrackingPairs, sample_frame_ids
from vislite_tracking.data.sequence import Sequence
from vislite_tracking.data.transforms import IMAGENET_MEAN, IMAGENET_STD, PairAugmentation


def test_frame_ids_are_causal_visible_and_within_the_gap() -> None:
    rng = np.random.default_rng(0)
    visible = rng.random(500) > 0.3
    for _ in range(500):
        template, search = sample_frame_ids(visible, 200, rng)
        assert template < search < template + 200 and visible[template] and visible[search]
    assert sample_frame_ids(np.array([True]), 200, rng) == (0, 0)  # a still image: static pair
    assert sample_frame_ids(np.zeros(30, dtype=bool), 200, rng) is None


def test_gap_grows_when_no_visible_frame_is_near() -> None:
    visible = np.zeros(400, dtype=bool)
    visible[[0, 300]] = True  # only pair: 0 -> 300, beyond the gap of 200
    assert sample_frame_ids(visible, 200, np.random.default_rng(0)) == (0, 300)


def _fake_sequence(name: str, frames: int) -> Sequence:
    boxes = np.tile([20.0, 20.0, 16.0, 16.0], (frames, 1))
    return Sequence(name, "fake", [Path(f"{name}/{i}") for i in range(frames)], boxes, np.ones(frames, dtype=bool))


def test_datasets_are_mixed_by_weight() -> None:
    reads: list[str] = []

    def reader(path: object) -> np.ndarray:
        reads.append(str(path).split("/")[0])
        return np.full((64, 64, 3), 128, dtype=np.uint8)

    pairs = TrackingPairs(
        sources=[[_fake_sequence("a", 25)], [_fake_sequence("b", 25)], [_fake_sequence("c", 25)]],
        weights=[1, 1, 2],
        samples_per_epoch=400,
        crops=CropSettings(template_size=32, search_size=64, stride=8),
        frame_reader=reader,
    )
    for i in range(400):
        pairs[i]
    share = {k: reads.count(k) / len(reads) for k in "abc"}
    assert abs(share["a"] - 0.25) < 0.06 and abs(share["b"] - 0.25) < 0.06 and abs(share["c"] - 0.5) < 0.06


def test_short_or_hidden_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="no sequence"):
        TrackingPairs(sources=[[_fake_sequence("a", 10)]])


def test_pairs_on_the_embedded_world(world: Path) -> None:
    sequences = load_sequences("lasot", world / "lasot") + load_sequences("got10k", world / "got10k", "train")
    pairs = TrackingPairs(sources=[sequences], samples_per_epoch=32, augmentation=PairAugmentation())
    item = pairs[(3, 1234)]
    assert item["template"].shape == (3, 128, 128) and item["search"].shape == (3, 256, 256)
    again = pairs[(3, 1234)]
    assert all(torch.equal(item[k], again[k]) for k in item)  # reproducible from (index, seed)
    tx, ty, tw, th = item["template_box"].tolist()  # no template jitter: centred, area (crop / 2)^2
    centre = 63.5 / 128  # the crop centre, (size - 1) / 2, or its mirror image after a flip
    assert min(abs(tx + tw / 2 - centre), abs(tx + tw / 2 - (1 - centre))) < 1e-5
    assert ty + th / 2 == pytest.approx(centre, abs=1e-5)
    assert tw * th == pytest.approx(0.25, rel=0.05)
    centres = []
    for i in range(32):
        x, y, w, h = pairs[(i, i)]["search_box"].tolist()
        centres.append((x + w / 2, y + h / 2))
        assert 0 < w < 1 and 0 < h < 1
    offsets = np.abs(np.array(centres) - 0.5)
    assert offsets.max() < 0.5 and offsets.max() > 0.05  # jittered, but the target stays in the crop


def test_validation_pairs_are_fixed(world: Path) -> None:
    sequences = load_sequences("got10k", world / "got10k", "val")
    pairs = TrackingPairs(
        sources=[sequences], samples_per_epoch=4, crops=CropSettings(template_size=32, search_size=64, stride=8), seed=5
    )
    a, b = pairs[2], pairs[2]
    assert torch.equal(a["search"], b["search"]) and torch.equal(a["search_box"], b["search_box"])


def test_validation_pairs_get_the_joint_grayscale_and_flip_only(world: Path) -> None:
    val = [{"dataset": "got10k", "root": str(world / "got10k"), "split": "val"}]
    module = TrackingDataModule(
        train_sources=val, val_sources=val, val_samples=8, template_size=32, search_size=64, stride=8,
        grayscale_prob=1.0, brightness=0.2, batch_size=2,
    )  # fmt: skip
    pairs = module.build_datasets("validate")["val"]
    assert (pairs.augmentation.grayscale_prob, pairs.augmentation.flip_prob) == (1.0, 0.5)
    assert (pairs.augmentation.brightness, pairs.augmentation.crop_flip_prob) == (0.0, 0.0)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    for i in range(4):
        pixels = (pairs[i]["search"] * std + mean) * 255  # [3, H, W] back to 0..255
        assert torch.allclose(pixels[0], pixels[1], atol=1e-3) and torch.allclose(pixels[1], pixels[2], atol=1e-3)
        assert torch.allclose(pixels, pixels.round(), atol=1e-3)  # no brightness factor: whole grey levels
