"""Tracking frames: corrupt, truncated, oversized and degenerate frames are errors naming the file."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vislite_tracking.data.frames import read_frame


def _jpeg(path: Path, size: tuple[int, int] = (40, 56), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_frames_match_opencv_pixels(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "00000001.jpg")
    expected = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read_frame(path), expected)


def test_truncated_jpeg_is_refused_not_garbled(tmp_path: Path) -> None:
    data = _jpeg(tmp_path / "src.jpg").read_bytes()
    path = tmp_path / "00000002.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(path)) is not None  # OpenCV alone would hand back a partly grey frame
    with pytest.raises(ValueError, match=r"00000002\.jpg: cannot decode the frame.*truncated"):
        read_frame(path)


def test_corrupt_jpeg_is_refused(tmp_path: Path) -> None:
    data = bytearray(_jpeg(tmp_path / "src.jpg", (48, 48), seed=1).read_bytes())
    start, stop = int(len(data) * 0.3), int(len(data) * 0.6)
    data[start:stop] = bytes(b ^ 0x5A for b in data[start:stop])  # a broken entropy-coded stream
    path = tmp_path / "00000003.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"00000003\.jpg: cannot decode the frame"):
        read_frame(path)


def test_oversized_frame_is_refused_from_its_header(tmp_path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path = tmp_path / "00000004.png"
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    with pytest.raises(ValueError, match=r"00000004\.png.*declares 20000x20000"):
        read_frame(path)


@pytest.mark.parametrize("size", [(1, 1), (1, 30), (30, 1)])
def test_degenerate_frame_is_an_error_naming_the_file(tmp_path: Path, size: tuple[int, int]) -> None:
    path = _jpeg(tmp_path / "00000005.jpg", size=size)
    with pytest.raises(ValueError, match=r"00000005\.jpg: frame is \d+x\d+ pixels; trackers need at least 2x2"):
        read_frame(path)


def test_missing_and_non_image_frames(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"00000006\.jpg: missing frame"):
        read_frame(tmp_path / "00000006.jpg")
    (tmp_path / "00000007.jpg").write_text("<html>not found</html>")
    with pytest.raises(ValueError, match=r"00000007\.jpg: cannot decode the frame"):
        read_frame(tmp_path / "00000007.jpg")
