"""Lightning training of the tracker: module, optimiser factory, step decay, CE keep-rate schedule."""

from vislite_tracking.ostrack.lit.keep_rate import KeepRateSchedule
from vislite_tracking.ostrack.lit.module import TrackingModule
from vislite_tracking.ostrack.lit.optim import BackboneScaledAdamW, StepDecay

__all__ = ["BackboneScaledAdamW", "KeepRateSchedule", "StepDecay", "TrackingModule"]
