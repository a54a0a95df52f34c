"""Hydra plugin: vislite-common's shared config groups on every vislite command's search path."""
