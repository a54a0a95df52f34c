"""Image decoding: torchvision's libjpeg-turbo / libpng decoders straight to uint8 tensors, PIL as the fallback.

Measured with ``benchmarks/data_pipeline.py`` (200 JPEGs of 64-256 px cut from scikit-image photos, quality 90,
one thread, 2-core x86_64 Xeon VM, torch 2.14.1 / torchvision 0.29.1 / Pillow 13.0), best of 3:

- torchvision ``decode_jpeg(read_file(path))`` -> tensor: 4,808 img/s (4,480-4,950 over 6 runs)
- PIL ``Image.open(path).convert("RGB")`` -> PIL image: 3,439 img/s (2,980-3,950 over 3 runs)
- torchvision, then ``to_pil_image`` -> PIL image: 3,793 img/s (3,710-3,980 over 3 runs)
- PIL, then ``pil_to_tensor`` -> tensor: 2,885 img/s (2,410-3,010 over 3 runs)

torchvision is faster to either output (1.25-1.65x when the transform takes tensors, 1.0-1.25x when it needs PIL
images; on 256 px images alone the two decoders are about equal, ~590 vs ~610 us per image), so
it is :data:`DEFAULT_DECODER`. Formats torchvision cannot read (BMP, PPM/PGM, TIFF: all in torchvision
``ImageFolder``'s extension list) and files it rejects fall back to PIL.

One decoding policy for every reader (training images, tracking frames, segmentation images):

- **pixel limit**: an image declaring more than :func:`max_image_pixels` pixels (PIL's default, 89,478,485;
  ``VISLITE_MAX_IMAGE_PIXELS`` or :func:`set_max_image_pixels` changes it, ``0`` turns it off) is refused from its
  header, before any pixel is decoded, with :class:`ImageTooLargeError` naming the file and both sizes;
- **corrupt or truncated files** raise :class:`ImageDecodeError` naming the file (torchvision's decoders refuse
  them outright; PIL, the fallback, refuses truncated data), never a partly grey image;
- **16-bit images** keep their 8 most significant bits on every decoder (torchvision, PIL, OpenCV), so the same
  file gives the same pixels whichever decoder reads it.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms.functional import pil_to_tensor, to_pil_image

from vislite_common.data.image_policy import (  # noqa: F401  (re-exported: the policy's public names)
    PIL_DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    ImageTooLargeError,
    _bomb_message,
    _header_size,
    check_image_size,
    load_pil,
    max_image_pixels,
    set_max_image_pixels,
)

# torchvision 0.29 marks its decoders deprecated in favour of torchcodec; they remain the fastest CPU path here.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities", category=DeprecationWarning)

Decoder = Literal["torchvision", "pil"]

DEFAULT_DECODER: Decoder = "torchvision"
"""The loader's decoder. Measured by ``benchmarks/data_pipeline.py`` (200 JPEGs of 64-256 px, one thread, 2-core
Xeon): torchvision 4,808 img/s vs PIL 3,439 img/s (1.40x); to a PIL image through torchvision 3,793 img/s."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""The extensions torchvision's ``ImageFolder`` accepts (matched case-insensitively)."""


_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"


def _check_declared_size(path: str, data: torch.Tensor) -> None:
    """Refuse an image above the pixel limit from its header (PNG/JPEG parsed here, other formats by PIL)."""
    if not max_image_pixels():
        return
    head = data[: 1 << 16].numpy().tobytes()
    size = _header_size(head)
    if size is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(path) as image:
                    size = image.size
            except Image.DecompressionBombError:
                raise ImageTooLargeError(_bomb_message(path)) from None
            except (OSError, ValueError, SyntaxError):
                return  # not readable by PIL either: the decoders below report it
    check_image_size(path, *size)


def _torchvision_can_decode(head: bytes) -> bool:
    """JPEG, PNG, GIF and WebP (by their magic bytes): the formats torchvision decodes on CPU."""
    return head.startswith((_JPEG_MAGIC, _PNG_MAGIC, b"GIF8")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _to_uint8_rgb(image: torch.Tensor) -> torch.Tensor:
    if image.dtype != torch.uint8:  # 16-bit PNG: keep the 8 most significant bits, as a scaled conversion does
        image = (image.to(torch.int32) >> 8).to(torch.uint8) if image.dtype == torch.uint16 else image.to(torch.uint8)
    return image


def decode_image_file(path: str | os.PathLike) -> torch.Tensor:
    """Decode an image file to a ``[3, H, W]`` uint8 RGB tensor (grayscale, palette, CMYK and RGBA -> RGB).

    JPEG goes through ``torchvision.io.decode_jpeg``, PNG/WebP/GIF through ``decode_image``; other formats (and
    files torchvision rejects) through PIL. Raises ``FileNotFoundError`` or :class:`ImageDecodeError` naming the
    file.
    """
    path = os.fspath(path)
    try:
        data = read_file(path)
    except RuntimeError as error:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image file {path} does not exist") from None
        raise ImageDecodeError(f"cannot read image {path}: {error}") from error
    head = data[:12].numpy().tobytes()
    _check_declared_size(path, data)
    if _torchvision_can_decode(head):
        try:
            if head.startswith(_JPEG_MAGIC):
                return decode_jpeg(data, mode=ImageReadMode.RGB)
            image = decode_image(data, mode=ImageReadMode.RGB)
            return _to_uint8_rgb(image[0] if image.ndim == 4 else image)  # animated GIF: first frame
        except RuntimeError as error:
            torchvision_error = str(error).splitlines()[-1]
    else:
        torchvision_error = ""
    try:
        return pil_to_tensor(load_pil(path))
    except ImageDecodeError as error:
        if torchvision_error:
            raise ImageDecodeError(f"{error} (torchvision: {torchvision_error})") from None
        raise


def load_image(
    path: str | os.PathLike, *, as_pil: bool = False, decoder: Decoder = DEFAULT_DECODER
) -> torch.Tensor | Image.Image:
    """Decode ``path`` with ``decoder`` to a uint8 ``[3, H, W]`` tensor, or to an RGB PIL image if ``as_pil``."""
    if decoder == "torchvision":
        image = decode_image_file(path)
        return to_pil_image(image) if as_pil else image
    if decoder == "pil":
        pil = load_pil(path)
        return pil if as_pil else pil_to_tensor(pil)
    raise ValueError(f"decoder must be 'torchvision' or 'pil', got {decoder!r}")
