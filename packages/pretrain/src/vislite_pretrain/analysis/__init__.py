"""Analysis of pre-trained ViTs: attention distance and entropy, layer CKA, attention maps, per-layer probes.

The command line is ``vislite-analyze`` (:mod:`vislite_pretrain.analysis.cli`); the functions below are the
same computations for use from Python.
"""

from vislite_pretrain.analysis.attention import (
    DISTANCE_UNITS,
    AttentionStats,
    attention_statistics,
    cls_attention_maps,
    entropy_and_distance,
    patch_distances,
)
from vislite_pretrain.analysis.cka import MinibatchCKA, cka, layer_cka, unbiased_hsic
from vislite_pretrain.analysis.features import capture_norm1, layer_representations, num_layers
from vislite_pretrain.analysis.models import load_vit
from vislite_pretrain.analysis.probes import ProbeResult, extract_layer_features, layerwise_probe

__all__ = [
    "DISTANCE_UNITS",
    "AttentionStats",
    "MinibatchCKA",
    "ProbeResult",
    "attention_statistics",
    "capture_norm1",
    "cka",
    "cls_attention_maps",
    "entropy_and_distance",
    "extract_layer_features",
    "layer_cka",
    "layer_representations",
    "layerwise_probe",
    "load_vit",
    "num_layers",
    "patch_distances",
    "unbiased_hsic",
]
