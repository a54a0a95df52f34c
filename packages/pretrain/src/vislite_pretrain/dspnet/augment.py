"""US3L's pre-training augmentation (``datasets/__init__.py``): the same transform for both views.

RandomResizedCrop with scale (0.2, 1), colour jitter (0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale with p 0.2,
Gaussian blur with sigma in [0.1, 2] and p 0.5, horizontal flip, no solarisation. The arguments are those of
:func:`~vislite_pretrain.mocov3.augment.byol_view_pair` (one probability per view), so the two-view data configs
take either pair by changing ``_target_``.
"""

from __future__ import annotations

from collections.abc import Sequence

from vislite_pretrain.mocov3.augment import ViewPair, byol_view


def us3l_view_pair(
    size: int,
    *,
    scale: Sequence[float] = (0.2, 1.0),
    blur_p: Sequence[float] = (0.5, 0.5),
    solarize_p: Sequence[float] = (0.0, 0.0),
    blur_sigma: Sequence[float] = (0.1, 2.0),
    color_jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.1),
    grayscale_p: float = 0.2,
    interpolation: str = "bilinear",
) -> ViewPair:
    """Two draws of US3L's view augmentation at ``size`` px (per-view ``blur_p`` / ``solarize_p``)."""
    if len(blur_p) != 2 or len(solarize_p) != 2:
        raise ValueError(f"blur_p and solarize_p take one probability per view, got {blur_p!r}, {solarize_p!r}")
    views = [
        byol_view(
            size,
            blur_p=blur_p[i],
            solarize_p=solarize_p[i],
            scale=scale,
            color_jitter=color_jitter,
            grayscale_p=grayscale_p,
            blur_sigma=blur_sigma,
            interpolation=interpolation,
        )
        for i in range(2)
    ]
    return ViewPair(views[0], views[1], size=size)
