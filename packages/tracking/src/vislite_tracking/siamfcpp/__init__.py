"""SiamFC++ (video_analyst): AlexNet / GoogLeNet / ShuffleNetV2 Siamese trackers with a dense box head, their
training, tracker and checkpoint loading."""

from vislite_tracking.lazy import lazy_exports

_EXPORTS = {
    "SiamFCpp": "model",
    "build_siamfcpp": "model",
    "load_video_analyst_weights": "model",
    "map_video_analyst_keys": "model",
    "SiamFCppTracker": "tracker",
    "load_siamfcpp": "load",
    "load_siamfcpp_tracker": "load",
    "SiamFCppModule": "lit",
    "BackboneScaledSGD": "lit",
    "SiamFCppPairs": "data",
    "SiamFCppDataModule": "data",
    "WorldSiamFCppDataModule": "data",
    "make_densebox_target": "targets",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
