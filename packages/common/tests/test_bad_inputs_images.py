"""Bad image files: every reader refuses them with the file's name, or skips and counts them when asked."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vislite_common.data import decode, image_policy
from vislite_common.data.classification import ImageFolderDataset
from vislite_common.data.decode import ImageDecodeError, ImageTooLargeError, load_image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(path: Path, side: int = 20000) -> Path:
    """A tiny PNG whose header declares side x side RGB pixels."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    body = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _bomb_jpeg(path: Path, tmp: Path) -> Path:
    """A real 16x16 JPEG whose SOF segment is patched to declare 20000 x 20000."""
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp, quality=90)
    data = bytearray(tmp.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 20000, 20000)
    path.write_bytes(bytes(data))
    return path


def _jpeg(path: Path, seed: int = 0, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(path, quality=90)
    return path


def _truncated(path: Path, source: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt(path: Path, source: Path) -> Path:
    data = bytearray(source.read_bytes())
    for i in range(int(len(data) * 0.3), int(len(data) * 0.3) + 24):  # breaks the entropy-coded stream
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


BAD_FILES = {
    "bomb.png": lambda d: _bomb_png(d / "bomb.png"),
    "bomb.jpg": lambda d: _bomb_jpeg(d / "bomb.jpg", d / "src_small.jpg"),
    "truncated.jpg": lambda d: _truncated(d / "truncated.jpg", _jpeg(d / "src1.jpg")),
    "corrupt.jpg": lambda d: _corrupt(d / "corrupt.jpg", _jpeg(d / "src2.jpg", 1)),
    "truncated.png": lambda d: _truncated(d / "truncated.png", _png(d / "src3.png")),
    "empty.jpg": lambda d: _write(d / "empty.jpg", b""),
    "text.png": lambda d: _write(d / "text.png", b"this is not an image\n"),
    "html.jpg": lambda d: _write(d / "html.jpg", b"<html><body>404 not found</body></html>"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png(path: Path) -> Path:
    Image.fromarray(np.full((32, 32, 3), 100, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("decoder", ["torchvision", "pil"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_image_is_an_error_naming_the_file(tmp_path: Path, name: str, decoder: str) -> None:
    path = BAD_FILES[name](tmp_path)
    with pytest.raises(ImageDecodeError, match=str(path).replace(".", r"\.")) as info:
        load_image(path, decoder=decoder)
    if name.startswith("bomb"):
        assert isinstance(info.value, ImageTooLargeError) and "VISLITE_MAX_IMAGE_PIXELS" in str(info.value)


def test_declared_size_is_refused_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(ImageTooLargeError, match=r"declares 20000x20000 = 400,000,000 pixels, above the limit of "
                                                 r"89,478,485"):
        load_image(_bomb_png(tmp_path / "bomb.png"), decoder="torchvision")


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "a.jpg", size=48)
    try:
        decode.set_max_image_pixels(48 * 48 - 1)
        with pytest.raises(ImageTooLargeError, match=r"a\.jpg declares 48x48"):
            load_image(path)
        with pytest.raises(ImageTooLargeError, match=r"a\.jpg declares 48x48"):
            load_image(path, decoder="pil")
        decode.set_max_image_pixels(48 * 48)
        assert load_image(path).shape == (3, 48, 48)
        with pytest.raises(ValueError, match="max_image_pixels must be"):
            decode.set_max_image_pixels(-1)
    finally:
        decode.set_max_image_pixels(image_policy.PIL_DEFAULT_MAX_PIXELS)


def test_pixel_limit_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("VISLITE_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ValueError, match="VISLITE_MAX_IMAGE_PIXELS must be an integer"):
        image_policy._limit_from_env()
    monkeypatch.setenv("VISLITE_MAX_IMAGE_PIXELS", "1000")
    assert image_policy._limit_from_env() == 1000


@pytest.mark.parametrize("mode", ["gray16", "rgb16"])
def test_16_bit_images_decode_the_same_on_every_decoder(tmp_path: Path, mode: str) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / f"{mode}.png"
    if mode == "gray16":
        values = (rng.random((20, 24)) * 65535).astype(np.uint16)
        Image.fromarray(values).save(path)
        expected = np.repeat((values >> 8).astype(np.uint8)[None], 3, axis=0)
    else:  # 16-bit RGB written as raw PNG rows
        values = (rng.random((20, 24, 3)) * 65535).astype(np.uint16)
        rows = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(20))
        header = struct.pack(">IIBBBBB", 24, 20, 16, 2, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
                         + _png_chunk(b"IEND", b""))
        expected = (values >> 8).astype(np.uint8).transpose(2, 0, 1)
    tv = load_image(path, decoder="torchvision").numpy()
    pil = load_image(path, decoder="pil").numpy()
    np.testing.assert_array_equal(tv, expected)
    np.testing.assert_array_equal(pil, expected)  # not saturated at 255
    np.testing.assert_array_equal(image_policy.read_rgb_array(path).transpose(2, 0, 1), expected)  # trackers'


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            _jpeg(root / label / f"{i}.jpg", seed=i)
    _truncated(root / "a" / "1.jpg", _jpeg(tmp_path / "src.jpg", seed=9))
    return root


def test_dataset_errors_on_a_bad_image_by_default(tmp_path: Path) -> None:
    dataset = ImageFolderDataset(_folder(tmp_path))
    with pytest.raises(ImageDecodeError, match=r"a/1\.jpg"):
        dataset[1]


def test_dataset_skips_and_counts_bad_images_when_asked(tmp_path: Path, caplog) -> None:
    dataset = ImageFolderDataset(_folder(tmp_path), on_bad_image="skip")
    with caplog.at_level(logging.WARNING):
        image, label = dataset[1]
    np.testing.assert_array_equal(image.numpy(), dataset[2][0].numpy())  # the next file stood in
    assert dataset.skipped == [str(tmp_path / "train" / "a" / "1.jpg")]
    assert "skipped bad image" in caplog.text and "1 skipped so far" in caplog.text


def test_bad_image_policy_value_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data.on_bad_image must be 'error' or 'skip', got 'ignore'"):
        ImageFolderDataset(_folder(tmp_path), on_bad_image="ignore")
