"""The inference tracker (OSTrack-style, one-stream ViT) and its loader."""

from vislite_tracking.tracker.folded_head import FoldedCenterHead, fold_conv_bn
from vislite_tracking.tracker.load import load_network, load_tracker
from vislite_tracking.tracker.ostrack_tracker import OSTracker, hann2d, preprocess

__all__ = ["FoldedCenterHead", "OSTracker", "fold_conv_bn", "hann2d", "load_network", "load_tracker", "preprocess"]
