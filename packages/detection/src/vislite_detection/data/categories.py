"""Contiguous detector labels for COCO category ids: sorted ids map to 1..K (0 is the background)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def label_maps(categories: Iterable[Mapping[str, Any]]) -> tuple[dict[int, int], dict[int, int], list[str]]:
    """``(label_to_category_id, category_id_to_label, names)`` for a COCO ``categories`` list.

    Labels are 1..K in increasing category-id order, as torchvision detectors expect (0 = background);
    ``names[label - 1]`` is the category name.
    """
    ordered = sorted(categories, key=lambda cat: int(cat["id"]))
    label_to_category_id = {label: int(cat["id"]) for label, cat in enumerate(ordered, start=1)}
    category_id_to_label = {cat_id: label for label, cat_id in label_to_category_id.items()}
    names = [str(cat.get("name", cat["id"])) for cat in ordered]
    return label_to_category_id, category_id_to_label, names
