"""COCO results files: every bad entry is an error naming file, entry and field, or dropped and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vislite_detection.eval.coco_evaluator import as_faster_coco
from vislite_detection.eval.results_file import ResultsFileError, read_results, validate_results

GT = {
    "images": [{"id": 1, "width": 40, "height": 30, "file_name": "a.jpg"},
               {"id": 2, "width": 40, "height": 30, "file_name": "b.jpg"}],
    "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12], "area": 120, "iscrowd": 0},
                    {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 8, 8], "area": 64, "iscrowd": 0}],
}
GOOD = {"image_id": 1, "category_id": 1, "bbox": [2.0, 3.0, 10.0, 12.0], "score": 0.9}
NAN = float("nan")

BAD_BBOX_ENTRIES = [
    ({"category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "image_id", "is missing"),
    ({"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "category_id", "is missing"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, "score", "is missing"),
    ({"image_id": 1, "category_id": 1, "score": 0.5}, "bbox", "is missing"),
    ({**GOOD, "image_id": 99}, "image_id", "99 is not an image"),
    ({**GOOD, "image_id": "1"}, "image_id", "'1' is not an image"),
    ({**GOOD, "category_id": 7}, "category_id", "7 is not a category"),
    ({**GOOD, "category_id": True}, "category_id", "True is not a category"),
    ({**GOOD, "score": "0.9"}, "score", "finite number, got '0.9'"),
    ({**GOOD, "score": NAN}, "score", "finite number, got nan"),
    ({**GOOD, "score": float("inf")}, "score", "finite number, got inf"),
    ({**GOOD, "score": None}, "score", "finite number, got None"),
    ({**GOOD, "bbox": [NAN, 0, 1, 1]}, "bbox", "4 finite numbers"),
    ({**GOOD, "bbox": [0, 0, -3, 4]}, "bbox", "negative width or height"),
    ({**GOOD, "bbox": [0, 0, 4, -1]}, "bbox", "negative width or height"),
    ({**GOOD, "bbox": [0, 0, 4]}, "bbox", "list \\[x, y, w, h\\] of 4 numbers"),
    ({**GOOD, "bbox": "0 0 4 4"}, "bbox", "list \\[x, y, w, h\\] of 4 numbers"),
    ({**GOOD, "bbox": [0, 0, "4", 4]}, "bbox", "4 finite numbers"),
    ("not an object", "entry", "must be an object"),
    (None, "entry", "must be an object"),
]


def _write(tmp_path: Path, entries, name: str = "dets.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return path


@pytest.mark.parametrize(("entry", "field", "problem"), BAD_BBOX_ENTRIES)
def test_bad_detection_entry_names_file_entry_and_field(tmp_path: Path, entry, field: str, problem: str) -> None:
    path = _write(tmp_path, [GOOD, entry])
    with pytest.raises(ResultsFileError, match=rf"dets\.json: entry 1 field '{field}' .*{problem}"):
        read_results(path, GT)


def test_duplicated_detections_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD, {**GOOD, "image_id": 2}, dict(GOOD)])
    with pytest.raises(ResultsFileError, match=r"entry 2 field 'entry' duplicates entry 0"):
        read_results(path, GT)


def test_drop_mode_keeps_the_good_entries_and_counts_the_rest(tmp_path: Path, caplog) -> None:
    entries = [GOOD, {**GOOD, "score": NAN}, {**GOOD, "category_id": 9}, dict(GOOD), {**GOOD, "image_id": 2}]
    kept, report = read_results(_write(tmp_path, entries), as_faster_coco(GT), on_invalid="drop")
    assert kept == [GOOD, {**GOOD, "image_id": 2}]
    assert report.kept == 2 and dict(report.dropped) == {"bad score": 1, "bad category_id": 1, "duplicate": 1}
    assert "dropped 3 invalid" in caplog.text


SEGM_GOOD = {"image_id": 1, "category_id": 1, "score": 0.8, "segmentation": {"size": [30, 40], "counts": "PPYo0"}}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({**SEGM_GOOD, "segmentation": {"size": [20, 40], "counts": "PPYo0"}}, "differs from the image's"),
        ({**SEGM_GOOD, "segmentation": {"counts": "PPYo0"}}, "RLE needs size"),
        ({**SEGM_GOOD, "segmentation": {"size": [30, 40], "counts": 5}}, "counts must be a string or a list"),
        ({**SEGM_GOOD, "segmentation": [[1, 2, 3, 4]]}, "even number"),
        ({**SEGM_GOOD, "segmentation": [[1, 2, 3, 4, 5, NAN]]}, "finite numbers"),
        ({**SEGM_GOOD, "segmentation": "mask"}, "RLE dict or a list of polygons"),
    ],
)
def test_bad_segmentation_entry_is_named(tmp_path: Path, entry, problem: str) -> None:
    path = _write(tmp_path, [SEGM_GOOD, entry], "segm.json")
    with pytest.raises(ResultsFileError, match=rf"segm\.json: entry 1 field 'segmentation' .*{problem}"):
        read_results(path, GT, iou_type="segm")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", r"bin\.json is not a UTF-8 text file"),
        (b'[{"image_id": 1,', r"bin\.json is not valid JSON \(line 1"),
        (b'{"image_id": 1}', r"must be a JSON list of result entries"),
    ],
)
def test_unreadable_results_files_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bin.json"
    path.write_bytes(content)
    with pytest.raises(ResultsFileError, match=message):
        read_results(path, GT)
    with pytest.raises(ResultsFileError, match=r"missing\.json does not exist"):
        read_results(tmp_path / "missing.json", GT)


def test_validate_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="on_invalid must be"):
        validate_results([], GT, on_invalid="ignore")  # type: ignore[arg-type]


def test_cli_eval_stops_on_a_bad_entry_and_drops_on_request(tmp_path: Path, capsys) -> None:
    from vislite_detection.cli import main

    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(GT))
    dets = _write(tmp_path, [GOOD, {**GOOD, "bbox": [0, 0, -1, 2]}])
    args = ["eval", "--gt", str(gt), "--results", str(dets), "--json"]
    with pytest.raises(SystemExit, match=r"dets\.json: entry 1 field 'bbox'"):
        main(args)
    capsys.readouterr()
    assert main([*args, "--drop-invalid"]) == 0
    assert json.loads(capsys.readouterr().out)["AP50"] >= 0
