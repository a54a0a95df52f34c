"""The image-decoding policy shared by every reader, with no torch import (tracking workers use it too).

- **pixel limit**: an image declaring more than :func:`max_image_pixels` pixels (PIL's default, 89,478,485;
  ``VISLITE_MAX_IMAGE_PIXELS`` or :func:`set_max_image_pixels` changes it, ``0`` turns it off) is refused from its
  header, before any pixel is decoded, with :class:`ImageTooLargeError` naming the file and both sizes;
- **corrupt or truncated files** raise :class:`ImageDecodeError` naming the file, never a partly grey image;
- **16-bit images** keep their 8 most significant bits on every decoder.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import numpy as np
from PIL import Image

BadImagePolicy = Literal["error", "skip"]
"""What a dataset does with an undecodable image: raise naming the file, or skip it and count it in the log."""


def check_bad_image_policy(value: str) -> BadImagePolicy:
    """``value`` if it is ``"error"`` or ``"skip"``; else a ValueError naming ``data.on_bad_image``."""
    if value not in ("error", "skip"):
        raise ValueError(f"data.on_bad_image must be 'error' or 'skip', got {value!r}")
    return value  # type: ignore[return-value]


_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"
PIL_DEFAULT_MAX_PIXELS = 89_478_485
"""PIL's own ``Image.MAX_IMAGE_PIXELS`` (about 0.25 GB of 24-bit pixels)."""
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageDecodeError(ValueError):
    """An image file that neither torchvision nor PIL can decode (the message names the file)."""


class ImageTooLargeError(ImageDecodeError):
    """An image whose header declares more pixels than :func:`max_image_pixels` (a decompression bomb guard)."""


def _limit_from_env() -> int:
    raw = os.environ.get("VISLITE_MAX_IMAGE_PIXELS", "")
    if not raw:
        return PIL_DEFAULT_MAX_PIXELS
    try:
        return max(0, int(raw))
    except ValueError:
        raise ValueError(f"VISLITE_MAX_IMAGE_PIXELS must be an integer (0: no limit), got {raw!r}") from None


_max_pixels = _limit_from_env()


def max_image_pixels() -> int:
    """The pixel limit in force (0: none)."""
    return _max_pixels


def set_max_image_pixels(limit: int | None) -> None:
    """Set the process's pixel limit (``None`` or ``0``: no limit). Set ``VISLITE_MAX_IMAGE_PIXELS`` instead to
    reach data-loader workers started with ``spawn``."""
    global _max_pixels
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"max_image_pixels must be a non-negative integer or None, got {limit!r}")
    _max_pixels = int(limit or 0)
    _sync_pil()


def _sync_pil() -> None:
    """Let PIL (which refuses above twice its own limit) open what a raised vislite limit admits."""
    if not _max_pixels or _max_pixels > PIL_DEFAULT_MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = _max_pixels or None


_sync_pil()


def check_image_size(path: str | os.PathLike, width: int, height: int) -> None:
    """Raise :class:`ImageTooLargeError` if ``width x height`` is above the pixel limit."""
    if _max_pixels and width * height > _max_pixels:
        raise ImageTooLargeError(
            f"image {os.fspath(path)} declares {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{_max_pixels:,} pixels; raise it with VISLITE_MAX_IMAGE_PIXELS=<pixels> (0: no limit) if the "
            f"file is trusted"
        )


def _bomb_message(path: str | os.PathLike) -> str:
    return (
        f"image {os.fspath(path)} declares more than twice {Image.MAX_IMAGE_PIXELS:,} pixels, above the limit of "
        f"{_max_pixels:,}; raise it with VISLITE_MAX_IMAGE_PIXELS=<pixels> (0: no limit) if the file is trusted"
    )


def _header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG SOF segment in ``head``; None if not found there."""
    if head.startswith(_PNG_MAGIC) and len(head) >= 24 and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head.startswith(_JPEG_MAGIC):
        pos = 2
        while pos + 9 < len(head):
            if head[pos] != 0xFF:
                return None
            marker = head[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker in _JPEG_SOF:
                return int.from_bytes(head[pos + 7 : pos + 9], "big"), int.from_bytes(head[pos + 5 : pos + 7], "big")
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            pos += 2 + int.from_bytes(head[pos + 2 : pos + 4], "big")
    return None


def _pil_rgb(image: Image.Image) -> Image.Image:
    """RGB of an open PIL image; 16/32-bit integer grey (``I;16*``, ``I``) keeps its 8 most significant bits of
    16, as torchvision's and OpenCV's decoders do (PIL's own ``convert`` would clip them at 255)."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image).astype(np.int64)  # [H, W]
        return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8), mode="L").convert("RGB")
    return image.convert("RGB")


def load_pil(path: str | os.PathLike) -> Image.Image:
    """Open an image file as an RGB PIL image (what torchvision's ``ImageFolder`` loader does), under the policy
    of this module (pixel limit, truncated files refused, 16-bit kept to its high byte)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if _max_pixels:
                with open(path, "rb") as handle:
                    size = _header_size(handle.read(1 << 16))
                if size is not None:
                    check_image_size(path, *size)  # PNG / JPEG: the exact size, before PIL sees the file
            with Image.open(path) as image:
                check_image_size(path, *image.size)
                return _pil_rgb(image)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {os.fspath(path)} does not exist") from None
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLargeError(_bomb_message(path)) from None
    except (OSError, ValueError, SyntaxError) as error:  # PIL.UnidentifiedImageError is an OSError
        raise ImageDecodeError(f"cannot decode image {os.fspath(path)}: {error}") from error


def open_checked(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """``Image.open(path)`` (lazy: nothing decoded yet) under this policy: the declared size checked against the
    pixel limit first; a missing or unidentifiable file names ``path``. Decode errors of ``load()`` /
    ``np.array(image)`` are the caller's to wrap (see :func:`decode_errors`)."""
    try:
        if _max_pixels:
            with open(path, "rb") as handle:
                size = _header_size(handle.read(1 << 16))
            if size is not None:
                check_image_size(path, *size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        check_image_size(path, *image.size)
        return image
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file {os.fspath(path)} does not exist") from None
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLargeError(_bomb_message(path)) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageDecodeError(f"cannot decode {what} {os.fspath(path)}: {error}") from error


def read_rgb_array(path: str | os.PathLike) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB pixels of ``path`` under this policy (PIL's libjpeg-turbo / libpng decoders)."""
    return np.asarray(load_pil(path))
