"""Lightning training of detectors: the module, detection SGD and the warm-up + step schedule."""

from vislite_detection.lit.module import DetectionModule
from vislite_detection.lit.optim import DetectionSGD
from vislite_detection.lit.schedule import WarmupMultiStepSchedule, warmup_step_factor

__all__ = ["DetectionModule", "DetectionSGD", "WarmupMultiStepSchedule", "warmup_step_factor"]
