"""``vislite-det-demo``: FCOS on clean, noisy and corrected boxes of the embedded COCO world."""
