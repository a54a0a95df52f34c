"""Multi-level RoIAlign with mmcv's semantics (mmdetection 2.x ``SingleRoIExtractor`` over ``RoIAlign``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign, roi_align
from torchvision.ops.poolers import _convert_to_roi_format


def map_roi_levels(boxes: Tensor, num_levels: int, finest_scale: float = 56.0) -> Tensor:
    """mmdetection's level of each box [N, 4]: floor(log2(sqrt(w * h) / finest_scale + 1e-6)) in [0, L - 1]."""
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    return torch.floor(torch.log2(scale / finest_scale + 1e-6)).clamp(min=0, max=num_levels - 1).long()


class MMCVMultiScaleRoIAlign(MultiScaleRoIAlign):
    """RoIAlign over FPN levels as mmdetection 2.x pools RoIs: half-pixel-aligned sampling (``aligned=True``),
    an adaptive number of samples per bin (``sampling_ratio=0``: ceil(bin size)), levels by
    :func:`map_roi_levels` (finest scale 56) and each level's stride from ``featmap_strides``.

    A drop-in for torchvision's ``MultiScaleRoIAlign`` (``forward(features, boxes, image_shapes)``; the image
    shapes are not needed: the strides are given).
    """

    def __init__(
        self,
        featmap_names: Sequence[str],
        output_size: int = 7,
        *,
        featmap_strides: Sequence[int] = (4, 8, 16, 32),
        sampling_ratio: int = 0,
        aligned: bool = True,
        finest_scale: float = 56.0,
    ) -> None:
        super().__init__(list(featmap_names), int(output_size), sampling_ratio)
        if len(featmap_names) != len(featmap_strides):
            raise ValueError(f"got {len(featmap_names)} feature maps for {len(featmap_strides)} strides")
        self.featmap_names, self.featmap_strides = list(featmap_names), [int(s) for s in featmap_strides]
        self.output_size = (int(output_size), int(output_size))
        self.sampling_ratio, self.aligned, self.finest_scale = sampling_ratio, aligned, finest_scale

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        features = [x[name] for name in self.featmap_names]
        rois = _convert_to_roi_format(boxes)  # [N, 5]: image index, x1, y1, x2, y2
        levels = map_roi_levels(rois[:, 1:], len(features), self.finest_scale)
        result = features[0].new_zeros((rois.shape[0], features[0].shape[1], *self.output_size))
        for level, (feature, stride) in enumerate(zip(features, self.featmap_strides)):
            index = torch.where(levels == level)[0]
            pooled = roi_align(
                feature,
                rois[index].to(feature.dtype),
                output_size=self.output_size,
                spatial_scale=1.0 / stride,
                sampling_ratio=self.sampling_ratio,
                aligned=self.aligned,
            )
            result[index] = pooled.to(result.dtype)
        return result
