"""vislite-common: backbones, data, Lightning modules and Hydra groups shared by every vislite package."""

from vislite_common import backbones as _backbones  # noqa: F401  (registers models in timm on import)

__version__ = "0.1.0"
