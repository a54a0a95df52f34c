"""vislite-segmentation: semantic segmentation with lightweight ViTs (Semantic FPN / UperNet), mIoU."""

__version__ = "0.1.0"
