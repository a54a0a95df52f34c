"""Hydra configs of vislite-segmentation, shipped as package data (``pkg://vislite_segmentation.configs``)."""
