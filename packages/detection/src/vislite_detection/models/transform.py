"""The detectors' input transform: normalise, optionally resize, pad into one batch (torchvision's transform)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor
from torchvision.models.detection.transform import GeneralizedRCNNTransform

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.530, 116.280, 123.675)
"""Pixel mean of the Caffe ResNets (detectron2 / mmdetection ``caffe`` style), BGR on a 0-255 scale; std 1."""
INPUT_STYLES = ("pytorch", "caffe")


class DetectionTransform(GeneralizedRCNNTransform):
    """torchvision's ``GeneralizedRCNNTransform`` whose resize step can be switched off.

    vislite's COCO data module resizes images itself (multi-scale training, test scale), so by default
    (``min_size=None``) the model only normalises and pads to a multiple of ``size_divisible``; boxes come back
    in the coordinates of the images it was given. With ``min_size`` / ``max_size`` set, it resizes exactly as
    torchvision does (shorter side to ``min_size``, a random choice among them in training, capped by
    ``max_size``) and maps detections back. ``style="caffe"`` feeds Caffe ResNets: RGB [0, 1] images become BGR
    0-255 minus :data:`CAFFE_MEAN_BGR`, std 1 (``image_mean`` / ``image_std`` are then the Caffe values).
    """

    def __init__(
        self,
        *,
        min_size: int | Sequence[int] | None = None,
        max_size: int | None = None,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        size_divisible: int = 32,
        style: str = "pytorch",
    ) -> None:
        if style not in INPUT_STYLES:
            raise ValueError(f"input style must be one of {INPUT_STYLES}, got {style!r}")
        if style == "caffe":
            image_mean, image_std = CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
        if (min_size is None) != (max_size is None):
            raise ValueError(f"set both min_size and max_size or neither, got {min_size=} {max_size=}")
        sizes = tuple(min_size) if isinstance(min_size, Sequence) else (min_size or 1,)
        super().__init__(
            min_size=sizes,
            max_size=max_size or 1,
            image_mean=list(image_mean),
            image_std=list(image_std),
            size_divisible=size_divisible,
        )
        self.resize_in_model = min_size is not None
        self.style = style

    def normalize(self, image: Tensor) -> Tensor:
        if self.style == "caffe":
            image = image.flip(0) * 255.0  # RGB [0, 1] -> BGR [0, 255]
        return super().normalize(image)

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor] | None]:
        if not self.resize_in_model:
            return image, target
        return super().resize(image, target)

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        if not self.resize_in_model:
            return result
        return super().postprocess(result, image_shapes, original_image_sizes)
