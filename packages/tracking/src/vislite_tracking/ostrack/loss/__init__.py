"""Training objective of the tracker: GIoU + L1 on boxes, CenterNet focal loss on Gaussian centre targets."""

from vislite_tracking.ostrack.loss.focal import centernet_focal_loss
from vislite_tracking.ostrack.loss.heatmap import centre_heatmaps, gaussian_radius
from vislite_tracking.ostrack.loss.tracking_loss import TrackingLoss

__all__ = ["TrackingLoss", "centernet_focal_loss", "centre_heatmaps", "gaussian_radius"]
