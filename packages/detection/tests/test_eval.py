"""faster-coco-eval through CocoEvaluator gives pycocotools' 12 statistics; conversion, export, DDP gathering."""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vislite_common.data.world import make_coco
from vislite_detection.data import CocoDetection
from vislite_detection.eval import STAT_NAMES, CocoEvaluator, rescale_boxes

SIZE = 64


@pytest.fixture(scope="module")
def gt_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's training split with an image that has no objects and two crowd regions."""
    world = make_coco(tmp_path_factory.mktemp("coco"), seed=5, image_size=SIZE, num_train=12, num_val=2)
    data = json.loads((world / "annotations/instances_train.json").read_text())
    data["annotations"] = [ann for ann in data["annotations"] if ann["image_id"] != 4]
    for ann in data["annotations"][2:4]:
        ann["iscrowd"] = 1
    path = world / "annotations/eval_fixture.json"
    path.write_text(json.dumps(data))
    return path


def _pycocotools_stats(gt_path: Path, results: list[dict[str, Any]], iou_type: str = "bbox") -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluator = COCOeval(gt, gt.loadRes([dict(r) for r in results]), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def _predictions(gt_path: Path, seed: int = 0) -> list[dict[str, Any]]:
    """Per image: jittered copies of the objects (some with the wrong class) plus random false positives."""
    rng = np.random.default_rng(seed)
    data = json.loads(gt_path.read_text())
    predictions = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        boxes, labels = [], []
        for ann in anns:
            x, y, w, h = ann["bbox"]
            jitter = rng.normal(0, 0.1, 4) * [w, h, w, h]
            boxes.append([x + jitter[0], y + jitter[1], x + w + jitter[2], y + h + jitter[3]])
            labels.append(ann["category_id"] if rng.random() > 0.2 else int(rng.integers(1, 9)))
        for _ in range(int(rng.integers(0, 4))):
            x1, y1 = rng.uniform(0, SIZE - 8, 2)
            w, h = rng.uniform(4, 30, 2)
            boxes.append([x1, y1, min(x1 + w, SIZE), min(y1 + h, SIZE)])
            labels.append(int(rng.integers(1, 9)))
        predictions.append(
            {
                "image_id": image["id"],
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "scores": torch.from_numpy(rng.uniform(0.05, 1.0, len(boxes))).float(),
                "labels": torch.tensor(labels, dtype=torch.int64),
            }
        )
    return predictions


def test_twelve_stats_equal_pycocotools(gt_file: Path) -> None:
    evaluator = CocoEvaluator(gt_file)
    evaluator.update(_predictions(gt_file))
    stats = evaluator.compute()
    assert list(stats) == list(STAT_NAMES)
    reference = _pycocotools_stats(gt_file, evaluator.results())
    np.testing.assert_allclose([stats[name] for name in STAT_NAMES], reference, rtol=0, atol=1e-12)
    assert 0.2 < stats["AP"] < 0.9  # a meaningful fixture: neither perfect nor empty


def test_segm_stats_equal_pycocotools(gt_file: Path) -> None:
    dataset = CocoDetection(image_dir=gt_file.parent.parent / "train", ann_file=gt_file, with_masks=True)
    ground_truth = copy.deepcopy(dataset.coco.dataset)
    evaluator = CocoEvaluator(dataset.coco, iou_type="segm")
    generator = torch.Generator().manual_seed(0)
    predictions = []
    for index in range(len(dataset)):
        _, target = dataset[index]
        masks = target["masks"].float()
        noise = torch.rand(masks.shape, generator=generator) * 0.8  # drops some border pixels of each mask
        predictions.append(
            {
                "image_id": target["image_id"],
                "boxes": target["boxes"],
                "labels": target["labels"],
                "scores": torch.rand(len(masks), generator=generator),
                "masks": (masks * (0.3 + noise))[:, None],  # [K, 1, H, W] probabilities
            }
        )
    evaluator.update(predictions)
    stats = evaluator.compute()
    reference = _pycocotools_stats(gt_file, evaluator.results(), "segm")
    np.testing.assert_allclose([stats[name] for name in STAT_NAMES], reference, rtol=0, atol=1e-12)
    assert 0.1 < stats["AP"] < 0.95
    assert dataset.coco.dataset == ground_truth  # the dataset's annotations are left as they were


def test_perfect_detections_score_one(gt_file: Path) -> None:
    data = json.loads(gt_file.read_text())
    predictions = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        labels = torch.tensor([a["category_id"] for a in anns])
        predictions.append({"image_id": image["id"], "boxes": boxes, "labels": labels, "scores": torch.ones(len(anns))})
    evaluator = CocoEvaluator(gt_file)
    evaluator.update(predictions)
    stats = evaluator.compute()
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)


def test_empty_prediction_set_gives_zeros_not_a_crash(gt_file: Path) -> None:
    evaluator = CocoEvaluator(gt_file)
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
    evaluator.update([{"image_id": i, **empty} for i in (1, 2, 3)])
    stats = evaluator.compute()
    assert set(stats.values()) <= {0.0, -1.0} and stats["AP"] == 0.0
    assert CocoEvaluator(gt_file).compute()["AP"] == 0.0  # nothing updated at all


def test_only_updated_images_are_evaluated(gt_file: Path) -> None:
    predictions = _predictions(gt_file)
    evaluator = CocoEvaluator(gt_file)
    evaluator.update(predictions[:5])
    part = evaluator.compute()
    evaluator.reset()
    evaluator.update(predictions)
    assert part != evaluator.compute()
    evaluator.reset()
    assert evaluator.results() == []


def test_labels_map_back_to_sparse_category_ids(gt_file: Path, tmp_path: Path) -> None:
    data = json.loads(gt_file.read_text())
    for record in (*data["categories"], *data["annotations"]):
        key = "id" if "name" in record else "category_id"
        record[key] = record[key] * 10 + 7
    sparse = tmp_path / "sparse.json"
    sparse.write_text(json.dumps(data))
    predictions = _predictions(gt_file)
    dense = CocoEvaluator(gt_file)
    dense.update(predictions)
    evaluator = CocoEvaluator(sparse)
    assert evaluator.label_to_category_id == {i: 10 * i + 7 for i in range(1, 9)}
    evaluator.update(predictions)
    assert {r["category_id"] for r in evaluator.results()} <= {10 * i + 7 for i in range(1, 9)}
    assert evaluator.compute() == dense.compute()
    with pytest.raises(ValueError, match=r"labels \[0\] have no category"):
        evaluator.update([{**predictions[0], "labels": torch.zeros(len(predictions[0]["labels"]), dtype=torch.int64)}])


def test_boxes_of_resized_images_are_rescaled(gt_file: Path) -> None:
    predictions = _predictions(gt_file)
    scaled = [
        {**p, "boxes": rescale_boxes(p["boxes"], (SIZE, SIZE), (2 * SIZE, 3 * SIZE)), "image_size": (128, 192)}
        for p in predictions
    ]
    scaled = [{**p, "scores": p["scores"].bfloat16()} for p in scaled]  # as bf16-mixed inference returns them
    plain, resized = CocoEvaluator(gt_file), CocoEvaluator(gt_file)
    plain.update(predictions)
    resized.update(scaled)
    for a, b in zip(plain.results(), resized.results()):
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=1e-4)
        assert a["score"] == pytest.approx(b["score"], abs=1e-2)


def test_written_results_are_a_coco_result_file(gt_file: Path, tmp_path: Path) -> None:
    evaluator = CocoEvaluator(gt_file)
    evaluator.update(_predictions(gt_file))
    path = evaluator.write_results(tmp_path / "out" / "results.json")
    records = json.loads(path.read_text())
    assert records and set(records[0]) == {"image_id", "category_id", "bbox", "score"}
    np.testing.assert_allclose(_pycocotools_stats(gt_file, records), list(evaluator.compute().values()), atol=1e-12)


def _rank_main(rank: int, world_size: int, init_file: str, gt_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=60))  # fmt: skip
    try:
        predictions = _predictions(Path(gt_file))
        evaluator = CocoEvaluator(gt_file)
        shard = predictions[rank::world_size] + predictions[:1]  # image 1 on both ranks, as a padded shard has
        evaluator.update(shard)
        stats = evaluator.compute()
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(stats))
        if rank == 0:  # after compute, one rank alone writes every rank's results (no collective, no hang)
            evaluator.write_results(Path(out_dir, "results.json"))
    finally:
        dist.destroy_process_group()


def test_predictions_are_gathered_across_ranks(gt_file: Path, tmp_path: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.start_processes(
        _rank_main,
        args=(2, str(tmp_path / "init"), str(gt_file), str(tmp_path)),
        nprocs=2,
        start_method="fork",
    )
    single = CocoEvaluator(gt_file)
    single.update(_predictions(gt_file))
    expected = single.compute()
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == pytest.approx(expected, abs=1e-12)
    assert json.loads((tmp_path / "results.json").read_text()) == single.results()
