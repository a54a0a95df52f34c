"""COCO data on the embedded world: targets, masks (polygon and RLE), transforms, grouping, broken files."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from vislite_common.data.world import make_coco
from vislite_detection.data import (
    AnnotationError,
    CocoDetection,
    CocoDetectionDataModule,
    GroupedBatchSampler,
    WorldDetectionDataModule,
    train_transforms,
)

SIZE = 64


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco"), seed=3, image_size=SIZE, num_train=8, num_val=4)


@pytest.fixture(scope="module")
def rle_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("coco_rle"), seed=3, image_size=SIZE, num_train=8, num_val=4,
                     segmentation="rle")  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _write(data: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(data))
    return path


def _train(world: Path, **kwargs: Any) -> CocoDetection:
    return CocoDetection(image_dir=world / "train", ann_file=world / "annotations/instances_train.json", **kwargs)


@pytest.fixture(scope="module")
def edited_world(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training split with image 1's objects removed (an empty image) and one crowd region on image 2."""
    data = _load(world / "annotations/instances_train.json")
    data["annotations"] = [ann for ann in data["annotations"] if ann["image_id"] != 1]
    crowd = next(ann for ann in data["annotations"] if ann["image_id"] == 2)
    crowd["iscrowd"] = 1
    out = tmp_path_factory.mktemp("edited") / "instances.json"
    return _write(data, out)


def test_targets_match_the_annotation_file(world: Path) -> None:
    data = _train(world)
    ann = _load(world / "annotations/instances_train.json")
    assert len(data) == 8
    assert data.category_names == [cat["name"] for cat in sorted(ann["categories"], key=lambda c: c["id"])]
    assert data.label_to_category_id == {i: i for i in range(1, 9)}  # world ids are already 1..8
    image, target = data[0]
    assert image.dtype == torch.float32 and image.shape == (3, SIZE, SIZE)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    first = [a for a in ann["annotations"] if a["image_id"] == target["image_id"]]
    assert target["boxes"].shape == (len(first), 4) and target["labels"].dtype == torch.int64
    x, y, w, h = first[0]["bbox"]
    assert target["boxes"][0].tolist() == [x, y, x + w, y + h]
    assert target["labels"].tolist() == [a["category_id"] for a in first]
    assert target["iscrowd"].tolist() == [0] * len(first)
    assert target["crowd_boxes"].shape == (0, 4)
    assert "clean_boxes" not in target and "masks" not in target


def test_labels_are_contiguous_for_sparse_category_ids(world: Path, tmp_path: Path) -> None:
    data = _load(world / "annotations/instances_train.json")
    for cat in data["categories"]:
        cat["id"] *= 10
    for ann in data["annotations"]:
        ann["category_id"] *= 10
    dataset = CocoDetection(image_dir=world / "train", ann_file=_write(data, tmp_path / "sparse.json"))
    assert dataset.label_to_category_id == {i: 10 * i for i in range(1, 9)}
    labels = torch.cat([dataset[i][1]["labels"] for i in range(len(dataset))])
    assert labels.min() >= 1 and labels.max() <= 8


def test_empty_image_is_kept_and_crowds_are_separated(world: Path, edited_world: Path) -> None:
    data = CocoDetection(image_dir=world / "train", ann_file=edited_world, with_masks=True)
    assert len(data) == 8
    _, empty = data[data.ids.index(1)]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,) and empty["masks"].shape == (0, SIZE, SIZE)
    _, crowded = data[data.ids.index(2)]
    crowd_anns = [a for a in data.coco.imgToAnns[2] if a["iscrowd"]]
    assert crowded["crowd_boxes"].shape == (1, 4)
    assert len(crowded["boxes"]) == len(data.coco.imgToAnns[2]) - 1 == len(crowded["masks"])
    x, y, w, h = crowd_anns[0]["bbox"]
    assert crowded["crowd_boxes"][0].tolist() == [x, y, x + w, y + h]


@pytest.mark.parametrize("kind", ["polygon", "rle"])
def test_masks_match_their_boxes(kind: str, world: Path, rle_world: Path) -> None:
    data = _train(world if kind == "polygon" else rle_world, with_masks=True)
    for index in range(3):
        _, target = data[index]
        masks = target["masks"]
        assert masks.dtype == torch.uint8 and masks.shape == (len(target["boxes"]), SIZE, SIZE)
        for mask, box in zip(masks, target["boxes"]):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box.tolist()  # world boxes are tight


def test_polygon_and_rle_worlds_give_the_same_masks(world: Path, rle_world: Path) -> None:
    polygon, rle = _train(world, with_masks=True)[1][1]["masks"], _train(rle_world, with_masks=True)[1][1]["masks"]
    agreement = (polygon == rle).float().mean()
    assert agreement > 0.97  # the polygons trace the same visible masks (rasterisation differs at edges)


def test_flip_moves_boxes_and_masks_together(world: Path) -> None:
    plain = _train(world, with_masks=True)
    flipped = _train(world, with_masks=True, transforms=v2.RandomHorizontalFlip(p=1.0))
    image, target = plain[2]
    image_f, target_f = flipped[2]
    torch.testing.assert_close(image_f, image.flip(-1))
    assert torch.equal(target_f["masks"], target["masks"].flip(-1))
    expected = torch.stack([SIZE - target["boxes"][:, 2], target["boxes"][:, 1], SIZE - target["boxes"][:, 0],
                            target["boxes"][:, 3]], dim=1)  # fmt: skip
    torch.testing.assert_close(target_f["boxes"].as_subclass(torch.Tensor), expected)
    for mask, box in zip(target_f["masks"], target_f["boxes"]):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box.tolist()


def test_multiscale_resizes_image_boxes_and_masks(world: Path) -> None:
    data = _train(world, with_masks=True, transforms=train_transforms(scales=(32, 96), max_size=200, flip_prob=0.0))
    plain = _train(world)
    sizes = set()
    for seed in range(12):
        image, target = data[(0, seed)]
        side = image.shape[-1]
        sizes.add(side)
        assert image.shape == (3, side, side) and target["masks"].shape[-2:] == (side, side)
        torch.testing.assert_close(target["boxes"].as_subclass(torch.Tensor), plain[0][1]["boxes"] * side / SIZE)
    assert sizes == {32, 96}


def test_augmentation_is_a_function_of_the_seed(world: Path) -> None:
    data = _train(world, transforms=train_transforms(scales=(48, 64, 80), max_size=100))
    first, again = data[(3, 1234)], data[(3, 1234)]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1]["boxes"], again[1]["boxes"])
    shapes = {tuple(data[(3, seed)][0].shape) for seed in range(20)}
    assert len(shapes) > 1


def test_clean_boxes_are_read_beside_the_noisy_ones(world: Path, tmp_path: Path) -> None:
    data = _load(world / "annotations/instances_train.json")
    for ann in data["annotations"]:
        ann["clean_bbox"] = list(ann["bbox"])
        ann["bbox"] = [ann["bbox"][0] + 1, ann["bbox"][1], ann["bbox"][2], ann["bbox"][3]]
    dataset = CocoDetection(image_dir=world / "train", ann_file=_write(data, tmp_path / "noisy.json"))
    _, target = dataset[0]
    assert torch.equal(target["boxes"][:, 0], target["clean_boxes"][:, 0] + 1)


@pytest.fixture(scope="module")
def mixed_aspect(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training split with odd images padded to portrait (64x80) and even ones to landscape (80x64)."""
    root = tmp_path_factory.mktemp("mixed")
    data = _load(world / "annotations/instances_train.json")
    (root / "images").mkdir()
    for image in data["images"]:
        width, height = (SIZE, SIZE + 16) if image["id"] % 2 else (SIZE + 16, SIZE)
        canvas = Image.new("RGB", (width, height))
        canvas.paste(Image.open(world / "train" / image["file_name"]), (0, 0))
        canvas.save(root / "images" / image["file_name"], quality=95)
        image["width"], image["height"] = width, height
    _write(data, root / "instances.json")
    return root


def test_aspect_grouped_batches_never_mix_orientations(mixed_aspect: Path) -> None:
    dm = CocoDetectionDataModule(root=mixed_aspect, train_ann="instances.json", val_ann="instances.json",
                                 train_images="images", val_images="images", batch_size=2, train_scales=(64,),
                                 max_size=100, test_scale=64, drop_last_train=False)  # fmt: skip
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert isinstance(loader.batch_sampler, GroupedBatchSampler) and len(loader) == 4
    seen = []
    for images, targets in loader:
        assert isinstance(images, list) and isinstance(targets, list) and len(images) == 2
        portrait = {img.shape[-2] > img.shape[-1] for img in images}
        assert len(portrait) == 1
        assert {t["image_id"] % 2 == 1 for t in targets} == portrait
        seen += [t["image_id"] for t in targets]
    assert sorted(seen) == list(range(1, 9))


def test_grouped_batches_survive_lightning_ddp_sharding(mixed_aspect: Path) -> None:
    """Lightning re-creates the batch sampler around its distributed sampler; each rank's batches stay grouped."""
    from lightning_fabric.utilities.data import _replace_dunder_methods
    from lightning_fabric.utilities.distributed import DistributedSamplerWrapper
    from pytorch_lightning.utilities.data import _update_dataloader
    from torch.utils.data import BatchSampler, DataLoader

    dm = CocoDetectionDataModule(root=mixed_aspect, train_ann="instances.json", val_ann="instances.json",
                                 train_images="images", val_images="images", batch_size=4, train_scales=(64,),
                                 max_size=100, test_scale=64, drop_last_train=False)  # fmt: skip
    dm.trainer = SimpleNamespace(world_size=2)  # type: ignore[assignment]
    dm.setup("fit")
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = dm.train_dataloader()  # as Lightning calls the hook
    seen = []
    for rank in range(2):
        shard = DistributedSamplerWrapper(loader.batch_sampler.sampler, num_replicas=2, rank=rank, shuffle=True)
        sharded = _update_dataloader(loader, shard)
        assert isinstance(sharded.batch_sampler, GroupedBatchSampler)
        for batch in sharded.batch_sampler:
            assert len(batch) <= 2 and len({index % 2 for index, _ in batch}) == 1  # index parity = orientation
            seen += [index for index, _ in batch]
    assert sorted(seen) == list(range(8))


def test_grouped_sampler_keeps_partial_batches_per_group() -> None:
    groups = [0, 1, 0, 0, 1]
    batches = list(GroupedBatchSampler(range(5), 2, False, group_ids=groups))
    assert batches == [[0, 2], [1, 4], [3]]
    assert len(GroupedBatchSampler(range(5), 2, False, group_ids=groups)) == 3
    assert list(GroupedBatchSampler(range(5), 2, True, group_ids=groups)) == [[0, 2], [1, 4]]
    pairs = list(GroupedBatchSampler([(1, 7), (4, 9)], 2, True, group_ids=groups))
    assert pairs == [[(1, 7), (4, 9)]]


def test_world_datamodule_writes_and_loads_the_world(tmp_path: Path) -> None:
    dm = WorldDetectionDataModule(root=tmp_path / "world", image_size=SIZE, num_train=4, num_val=2, batch_size=2,
                                  train_scales=(48, 64), max_size=100, test_scale=64, with_masks=True)  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    images, targets = next(iter(dm.train_dataloader()))
    assert len(images) == 2 and all(img.shape[-1] in (48, 64) for img in images)
    assert all(t["masks"].shape[-2:] == img.shape[-2:] for img, t in zip(images, targets))
    images, targets = next(iter(dm.val_dataloader()))
    assert [t["image_id"] for t in targets] == [1, 2] and images[0].shape == (3, 64, 64)


def test_global_batch_is_divided_by_the_world_size(world: Path) -> None:
    dm = WorldDetectionDataModule(root=world, image_size=SIZE, num_train=8, num_val=4, batch_size=4)
    dm.trainer = SimpleNamespace(world_size=2)  # type: ignore[assignment]
    assert dm.per_device_batch_size == 2
    dm.setup("validate")
    assert len(next(iter(dm.val_dataloader()))[0]) == 2


Mutation = Callable[[dict[str, Any]], None]


def _set_ann(field: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["annotations"][1][field] = value

    return mutate


def _duplicate_ann_id(data: dict[str, Any]) -> None:
    data["annotations"][1]["id"] = data["annotations"][0]["id"]


def _duplicate_image_id(data: dict[str, Any]) -> None:
    data["images"].append(copy.deepcopy(data["images"][0]))


def _partial_clean(data: dict[str, Any]) -> None:
    data["annotations"][0]["clean_bbox"] = data["annotations"][0]["bbox"]


BROKEN: dict[str, tuple[Mutation, list[str]]] = {
    "negative": (_set_ann("bbox", [10, 10, -5, 4]), ["annotation id 2", "'bbox'", "negative width"]),
    "zero": (_set_ann("bbox", [10, 10, 5, 0]), ["annotation id 2", "'bbox'", "zero height"]),
    "outside": (_set_ann("bbox", [70, 10, 5, 5]), ["annotation id 2", "'bbox'", "outside"]),
    "malformed": (_set_ann("bbox", [1, 2, 3]), ["annotation id 2", "'bbox'", "expected [x, y, w, h]"]),
    "category": (_set_ann("category_id", 99), ["annotation id 2", "'category_id'", "99"]),
    "image": (_set_ann("image_id", 999), ["annotation id 2", "'image_id'", "999"]),
    "crowd": (_set_ann("iscrowd", 2), ["annotation id 2", "'iscrowd'"]),
    "duplicate_ann": (_duplicate_ann_id, ["annotation id 1", "duplicated"]),
    "duplicate_image": (_duplicate_image_id, ["image id 1", "duplicated"]),
    "clean": (_partial_clean, ["'clean_bbox'", "missing", "write clean boxes for every instance"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_annotations_name_file_record_and_field(case: str, world: Path, tmp_path: Path) -> None:
    mutate, fragments = BROKEN[case]
    data = _load(world / "annotations/instances_train.json")
    mutate(data)
    fragments = fragments if case == "clean" else [*fragments, "fix or remove it"]
    path = _write(data, tmp_path / "broken.json")
    with pytest.raises(AnnotationError) as info:
        CocoDetection(image_dir=world / "train", ann_file=path)
    message = str(info.value)
    for fragment in [str(path), *fragments]:
        assert fragment in message, message


def test_invalid_boxes_can_be_skipped_with_a_warning(world: Path, tmp_path: Path) -> None:
    data = _load(world / "annotations/instances_train.json")
    data["annotations"][1]["bbox"] = [296.65, 38.33, 1.03, 0.0]  # like COCO train2017's annotation 918
    data["annotations"][3]["bbox"] = [10, 10, -5, 4]
    path = _write(data, tmp_path / "degenerate.json")
    with pytest.raises(AnnotationError, match="invalid_boxes='skip'"):
        CocoDetection(image_dir=world / "train", ann_file=path)
    with pytest.warns(UserWarning, match=r"left out 2 annotation\(s\) .* ids 2, 4"):
        dataset = CocoDetection(image_dir=world / "train", ann_file=path, invalid_boxes="skip")
    assert {2, 4}.isdisjoint(dataset.coco.anns) and len(dataset.coco.anns) == len(data["annotations"]) - 2
    data["annotations"][5]["category_id"] = 99  # other problems still raise
    with pytest.raises(AnnotationError, match="annotation id 6: field 'category_id'"):
        CocoDetection(image_dir=world / "train", ann_file=_write(data, path), invalid_boxes="skip")


def test_missing_image_file_is_named(world: Path, tmp_path: Path) -> None:
    data = _load(world / "annotations/instances_train.json")
    data["images"][2]["file_name"] = "gone.jpg"
    path = _write(data, tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match=r"image id 3: field 'file_name' 'gone.jpg' is missing"):
        CocoDetection(image_dir=world / "train", ann_file=path)


def test_image_size_mismatch_is_named(world: Path, tmp_path: Path) -> None:
    data = _load(world / "annotations/instances_train.json")
    data["images"][0]["width"] = SIZE + 1
    dataset = CocoDetection(image_dir=world / "train", ann_file=_write(data, tmp_path / "size.json"))
    with pytest.raises(AnnotationError, match=r"image id 1 .*'width/height' says 65x64 but the file is 64x64"):
        dataset[0]


def test_missing_segmentation_is_named_when_masks_are_asked(world: Path, tmp_path: Path) -> None:
    data = _load(world / "annotations/instances_train.json")
    del data["annotations"][4]["segmentation"]
    path = _write(data, tmp_path / "noseg.json")
    CocoDetection(image_dir=world / "train", ann_file=path)  # boxes only: fine
    with pytest.raises(AnnotationError, match=r"annotation id 5: field 'segmentation'"):
        CocoDetection(image_dir=world / "train", ann_file=path, with_masks=True)


def test_masks_have_no_holes_from_jpeg_io(world: Path) -> None:
    """The decoded images and the masks cover the same canvas (no off-by-one between file and JSON)."""
    image, target = _train(world, with_masks=True)[0]
    assert tuple(image.shape[-2:]) == tuple(target["masks"].shape[-2:]) == tuple(np.array([SIZE, SIZE]))
