"""mIoU / aAcc / mAcc follow mmsegmentation's definitions (hand-built cases), and torchmetrics agrees."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex
from torchmetrics.segmentation import MeanIoU

from vislite_segmentation.eval import SegmentationMetric, miou

I = 255  # noqa: E741  (ignore)


def test_hand_built_case_with_an_absent_class() -> None:
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, I]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 2]])  # the 2 sits on an ignored pixel: never counted
    out = miou([pred], [gt], num_classes=4)
    # class 0: I=3, U=4; class 1: I=3, U=4; classes 2 and 3: absent from both -> NaN, skipped
    assert out["IoU"][0] == pytest.approx(75.0)
    assert out["IoU"][1] == pytest.approx(75.0)
    assert math.isnan(out["IoU"][2]) and math.isnan(out["IoU"][3])
    assert out["mIoU"] == pytest.approx(75.0)
    assert out["aAcc"] == pytest.approx(100 * 6 / 7)
    assert out["mAcc"] == pytest.approx(100 * (3 / 4 + 3 / 3) / 2)


def test_a_predicted_class_missing_from_the_truth_counts_as_zero_iou() -> None:
    gt = np.array([[0, 0], [0, 0]])
    pred = np.array([[0, 0], [0, 1]])
    out = miou([pred], [gt], num_classes=2)
    assert out["IoU"] == pytest.approx([75.0, 0.0])
    assert out["mIoU"] == pytest.approx(37.5)
    assert math.isnan(out["Acc"][1]) and out["mAcc"] == pytest.approx(75.0)


def test_ignored_pixels_never_count() -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, size=(16, 16))
    gt[:4] = I
    pred_a = rng.integers(0, 3, size=(16, 16))
    pred_b = pred_a.copy()
    pred_b[:4] = (pred_b[:4] + 1) % 3  # differs only where the label is ignored
    assert miou([pred_a], [gt], 3) == miou([pred_b], [gt], 3)


def test_dataset_aggregation_is_not_the_mean_of_per_image_scores() -> None:
    gt1, pred1 = np.zeros((10, 10), int), np.zeros((10, 10), int)  # image 1: class 0 only, perfect
    gt2 = np.array([[0, 1]])  # image 2: tiny, class 0 predicted as 1
    pred2 = np.array([[1, 1]])
    out = miou([pred1, pred2], [gt1, gt2], num_classes=2)
    # whole dataset: class 0 I=100, U=101; class 1 I=1, U=2
    assert out["IoU"] == pytest.approx([100 * 100 / 101, 50.0])
    assert out["mIoU"] == pytest.approx((100 * 100 / 101 + 50.0) / 2)
    per_image = (miou([pred1], [gt1], 2)["mIoU"] + miou([pred2], [gt2], 2)["mIoU"]) / 2  # (100 + 25) / 2
    assert per_image == pytest.approx(62.5)
    assert abs(out["mIoU"] - per_image) > 10


def test_reduce_zero_label_ignores_zero_and_shifts() -> None:
    gt = np.array([[0, 1, 2, 3]])  # 0 ignored; 1, 2, 3 -> 0, 1, 2
    pred = np.array([[2, 0, 1, 1]])
    out = miou([pred], [gt], num_classes=3, reduce_zero_label=True)
    assert out["IoU"] == pytest.approx([100.0, 50.0, 0.0])
    assert out["aAcc"] == pytest.approx(100 * 2 / 3)


def test_torchmetrics_macro_jaccard_matches_the_mmseg_definition() -> None:
    rng = np.random.default_rng(1)
    preds, gts = [], []
    for _ in range(5):
        gt = rng.integers(0, 6, size=(12, 9))  # classes 6 and 7 never appear: skipped by both
        gt[rng.random(gt.shape) < 0.2] = I
        preds.append(rng.integers(0, 6, size=gt.shape))
        gts.append(gt)
    ours = miou(preds, gts, num_classes=8)
    jaccard = MulticlassJaccardIndex(num_classes=8, ignore_index=I, average="macro")
    for pred, gt in zip(preds, gts):
        jaccard.update(torch.as_tensor(pred), torch.as_tensor(gt))
    assert ours["mIoU"] == pytest.approx(100 * float(jaccard.compute()), abs=1e-4)


def test_torchmetrics_mean_iou_is_a_mean_of_per_image_scores() -> None:
    """``torchmetrics.segmentation.MeanIoU`` averages per-image IoUs, so on the aggregation case above it gives
    50, not the dataset-level 74.5; it also has no ignore index."""
    gt1, pred1 = np.zeros((10, 10), int), np.zeros((10, 10), int)
    gt2, pred2 = np.array([[0, 1]]), np.array([[1, 1]])
    metric = MeanIoU(num_classes=2, input_format="index")
    for pred, gt in ((pred1, gt1), (pred2, gt2)):
        metric.update(torch.as_tensor(pred)[None], torch.as_tensor(gt)[None])
    # image 1: class 0 IoU 1, class 1 absent; image 2: class 0 IoU 0/2, class 1 IoU 1/2. torchmetrics 1.9 skips
    # absent (image, class) pairs: (1 + 0 + 0.5) / 3; scoring them 0 would give the per-image mean, 0.375
    per_pair, per_image = (1.0 + 0.0 + 0.5) / 3, ((1.0 + 0.0) / 2 + (0.0 + 0.5) / 2) / 2
    assert float(metric.compute()) in (pytest.approx(per_pair), pytest.approx(per_image))
    ours = miou([pred1, pred2], [gt1, gt2], num_classes=2)["mIoU"]
    assert ours == pytest.approx((100 * 100 / 101 + 50.0) / 2)  # 74.50
    assert abs(ours - 100 * float(metric.compute())) > 20


def test_metric_object_accumulates_like_the_function() -> None:
    metric = SegmentationMetric(num_classes=3)
    rng = np.random.default_rng(2)
    pairs = [(rng.integers(0, 3, (5, 5)), rng.integers(0, 3, (5, 5))) for _ in range(3)]
    for pred, gt in pairs:
        metric.update(torch.as_tensor(pred), torch.as_tensor(gt))
    assert float(metric.compute()["mIoU"]) == pytest.approx(miou(*zip(*pairs), num_classes=3)["mIoU"])


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="differs from label shape"):
        miou([np.zeros((2, 2), int)], [np.zeros((2, 3), int)], 2)
    with pytest.raises(ValueError, match="reduce_zero_label"):
        miou([np.zeros((2, 2), int)], [np.full((2, 2), 5)], 2)
    with pytest.raises(ValueError, match="predicted class ids"):
        miou([np.full((2, 2), 7)], [np.zeros((2, 2), int)], 2)
    with pytest.raises(ValueError, match="2 predictions but 1"):
        miou([np.zeros((2, 2), int)] * 2, [np.zeros((2, 2), int)], 2)
    with pytest.raises(ValueError, match=r"preds\[0\] must be a 2-D"):
        miou([np.zeros((1, 2, 2), int)], [np.zeros((2, 2), int)], 2)
