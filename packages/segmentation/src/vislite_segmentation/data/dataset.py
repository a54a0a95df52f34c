"""An (image, label map) dataset over path pairs, with ADE20K's label reduction and a configurable ignore value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vislite_common.data.decode import decode_image_file
from vislite_common.data.formats.errors import FormatError
from vislite_common.data.image_policy import ImageDecodeError, open_checked
from vislite_common.data.samplers import SeededIndex, augmentation_seeded, split_index
from vislite_segmentation.eval.miou import IGNORE_INDEX, shift_zero_label

PairTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def read_label(path: Path) -> torch.Tensor:
    """A single-channel PNG label map as int64 ``[H, W]`` (palette PNGs give their indices)."""
    with open_checked(path, "label map") as png:  # the shared image policy: pixel limit, file named on errors
        if png.mode not in ("L", "P", "I", "I;16"):
            raise FormatError(path, f"label maps must be single-channel PNGs (mode L or P), got mode {png.mode}")
        try:
            return torch.from_numpy(np.array(png).astype(np.int64))
        except (OSError, ValueError, SyntaxError) as error:  # truncated or corrupt data
            raise ImageDecodeError(f"cannot decode label map {path}: {error}") from None


class SegmentationDataset(Dataset):
    """Samples ``(image, label)`` of ``pairs`` of (image path, label PNG path), transformed by ``transform``.

    Labels are mapped to training ids in ``[0, num_classes)`` with ``255`` ignored: ``reduce_zero_label``
    (ADE20K) ignores 0 and shifts the rest down by one; otherwise file value ``ignore_index`` becomes 255.
    Any other value outside ``[0, num_classes)`` raises :class:`FormatError` naming the file. The training
    sampler's ``(index, seed)`` items make the augmentation depend only on that seed.
    """

    accepts_seeded_index = True

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        *,
        num_classes: int,
        transform: PairTransform | None = None,
        reduce_zero_label: bool = True,
        ignore_index: int = IGNORE_INDEX,
        return_index: bool = False,
    ) -> None:
        self.pairs = [(Path(i), Path(a)) for i, a in pairs]
        self.num_classes, self.transform = int(num_classes), transform
        self.reduce_zero_label, self.ignore_index = bool(reduce_zero_label), int(ignore_index)
        self.return_index = return_index

    def __len__(self) -> int:
        return len(self.pairs)

    def label(self, index: int) -> torch.Tensor:
        """Label map ``index`` in training ids (``[H, W]`` int64, 255 = ignore), untransformed."""
        path = self.pairs[index][1]
        label = read_label(path)
        if self.reduce_zero_label:
            label = shift_zero_label(label)
        elif self.ignore_index != IGNORE_INDEX:
            label[label == self.ignore_index] = IGNORE_INDEX
        bad = (label >= self.num_classes) & (label != IGNORE_INDEX)
        if bool(bad.any()):
            raise FormatError(
                path,
                f"label value {int(label[bad].max()) + int(self.reduce_zero_label)} is outside the "
                f"{self.num_classes} classes{' (after reduce_zero_label)' if self.reduce_zero_label else ''}",
            )
        return label

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 ``[3, H, W]`` RGB, untransformed."""
        return decode_image_file(self.pairs[index][0])

    def __getitem__(self, item: int | SeededIndex) -> tuple[torch.Tensor, ...]:
        index, seed = split_index(item)
        image, label = self.image(index), self.label(index)
        if image.shape[-2:] != label.shape:
            sizes = f"label size {tuple(label.shape)} differs from image size {tuple(image.shape[-2:])}"
            raise FormatError(self.pairs[index][1], sizes)
        if self.transform is not None:
            with augmentation_seeded(seed):
                image, label = self.transform(image, label)
        return (image, label, index) if self.return_index else (image, label)


def collate_eval(samples: list[tuple[torch.Tensor, ...]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Evaluation batches as lists (images may differ in size): ``([image, ...], [label, ...])``."""
    return [s[0] for s in samples], [s[1] for s in samples]
