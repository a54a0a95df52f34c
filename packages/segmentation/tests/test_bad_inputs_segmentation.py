"""Segmentation metrics never turn "nothing to score" into a silent 0.0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vislite_segmentation.eval.miou import IGNORE_INDEX, NoLabelledPixelsWarning, miou


def test_all_ignored_labels_give_nan_and_a_warning() -> None:
    preds = [np.zeros((4, 5), np.int64), np.ones((3, 3), np.int64)]
    gts = [np.full((4, 5), IGNORE_INDEX), np.full((3, 3), IGNORE_INDEX)]
    with pytest.warns(NoLabelledPixelsWarning, match=r"eval/mIoU is NaN: every label pixel .* ignore_index 255"):
        out = miou(preds, gts, num_classes=3)
    assert math.isnan(out["mIoU"]) and math.isnan(out["aAcc"]) and math.isnan(out["mAcc"])


def test_ade20k_zero_only_labels_are_all_ignored() -> None:
    with pytest.warns(NoLabelledPixelsWarning, match="reduce_zero_label"):
        out = miou([np.zeros((2, 2), np.int64)], [np.zeros((2, 2), np.int64)], num_classes=2, reduce_zero_label=True)
    assert math.isnan(out["mIoU"])


def test_labelled_pixels_do_not_warn(recwarn) -> None:
    out = miou([np.zeros((2, 2), np.int64)], [np.array([[0, IGNORE_INDEX], [0, 0]])], num_classes=2)
    assert out["mIoU"] == 100.0
    assert not [w for w in recwarn if issubclass(w.category, NoLabelledPixelsWarning)]


def test_module_logs_nan_not_zero_when_everything_is_ignored() -> None:
    import torch

    from vislite_segmentation.eval.miou import SegmentationMetric
    from vislite_segmentation.lit.module import SegmentationModule

    logged: dict[str, float] = {}

    class _Recorder:
        def log(self, name: str, value: torch.Tensor, **_: object) -> None:
            logged[name] = float(value)

    metric = SegmentationMetric(num_classes=3)
    metric.update(torch.zeros(4, 4, dtype=torch.int64), torch.full((4, 4), IGNORE_INDEX))
    with pytest.warns(NoLabelledPixelsWarning, match="val/mIoU is NaN"):
        SegmentationModule._log_metric(_Recorder(), "val", metric)  # type: ignore[arg-type]
    assert math.isnan(logged["val/mIoU"]) and math.isnan(logged["val/mAcc"])


@pytest.mark.parametrize("damage", ["truncated", "text", "bomb", "missing"])
def test_bad_label_maps_name_the_file(tmp_path, damage: str) -> None:
    import struct
    import zlib

    from PIL import Image

    from vislite_common.data.image_policy import ImageDecodeError
    from vislite_segmentation.data.dataset import read_label

    path = tmp_path / "ADE_val_00000001.png"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)).save(path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "text":
        path.write_text("not a png")
    elif damage == "bomb":
        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    else:
        path.unlink()
    error = FileNotFoundError if damage == "missing" else ImageDecodeError
    with pytest.raises(error, match=r"ADE_val_00000001\.png"):
        read_label(path)
