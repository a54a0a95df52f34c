"""``vislite-seg-demo``: train Semantic FPN on the embedded world, report mIoU against a baseline, save overlays."""
