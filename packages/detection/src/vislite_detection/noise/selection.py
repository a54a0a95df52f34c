"""Which COCO boxes get location noise: valid, non-crowd ones; the rest are copied unchanged (NDet's rule)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NoiseSelection:
    """Annotation ids of the boxes that get noise, of the crowd regions and of the invalid boxes (copied)."""

    noised: set[int] = field(default_factory=set)
    crowd: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """``"N boxes noised; copied unchanged: C crowd, I invalid (ids ...)"``."""
        shown = ", ".join(str(i) for i in self.invalid[:10]) + (" ..." if len(self.invalid) > 10 else "")
        text = f"{len(self.noised)} boxes noised; copied unchanged: {len(self.crowd)} crowd"
        text += f", {len(self.invalid)} invalid"
        return text + (f" (ids {shown})" if self.invalid else "")


def is_valid_box(box: Any, area: Any, image: dict[str, Any]) -> bool:
    """NDet's test: ``[x, y, w, h]`` with w >= 1, h >= 1, ``area`` > 0 and a positive overlap with ``image``."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return False
    x, y, w, h = (float(v) for v in box)
    overlap_w = max(0.0, min(x + w, image["width"]) - max(x, 0.0))
    overlap_h = max(0.0, min(y + h, image["height"]) - max(y, 0.0))
    return overlap_w * overlap_h > 0 and w >= 1 and h >= 1 and float(area) > 0


def select_boxes(coco: dict[str, Any]) -> NoiseSelection:
    """Sort the annotations of ``coco``: crowd regions (``iscrowd`` or ``ignore``), invalid boxes, and the rest.

    NDet's script skips only ``ignore`` and noises crowd regions too; they never train, so here they stay as
    annotated. A missing ``area`` counts as w*h. ValueError names an annotation whose image is not listed.
    """
    images = {image["id"]: image for image in coco.get("images", [])}
    selection = NoiseSelection()
    for ann in coco.get("annotations", []):
        box = ann.get("bbox")
        if ann.get("iscrowd", 0) or ann.get("ignore", False):
            selection.crowd.append(ann["id"])
            continue
        image = images.get(ann.get("image_id"))
        if image is None:
            raise ValueError(f"annotation id {ann['id']}: field 'image_id' is not an id in 'images'")
        area = ann.get("area", box[2] * box[3] if isinstance(box, (list, tuple)) and len(box) == 4 else 0)
        if is_valid_box(box, area, image):
            selection.noised.add(ann["id"])
        else:
            selection.invalid.append(ann["id"])
    return selection
