"""Universal targeted attack on Siamese trackers: a template perturbation and a search-region patch that drag a
SiamFC++ tracker along a fake trajectory (SiamAttack, branch ``baseline``)."""

from vislite_tracking.attack.loss import attack_loss
from vislite_tracking.attack.placement import PHASES, attack_search_region
from vislite_tracking.siamfcpp.targets import make_densebox_target

__all__ = ["PHASES", "attack_loss", "attack_search_region", "make_densebox_target"]
