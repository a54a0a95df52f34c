"""The embedded data world: a deterministic generator of synthetic shapes over real photos, in real dataset layouts.

Every ``make_*`` function is a pure function of its arguments (same arguments → byte-identical files on the same
platform), writes ``world_manifest.json`` into its root, returns the root, and is idempotent.

- ``make_classification``: ImageFolder ``train/<class>/*.jpg``, ``val/<class>/*.jpg``.
- ``make_coco``: COCO instances (exact polygons or RLE of the visible parts), captions, seen/unseen split.
- ``make_ade20k``: ADE20K images + single-channel label maps (0 = other/ignore), ``classes.json``.
- ``make_lasot`` / ``make_got10k``: tracking sequences with occlusion flags, in LaSOT / GOT-10k layouts.
"""

from vislite_common.data.world.ade20k import make_ade20k
from vislite_common.data.world.classification import make_classification
from vislite_common.data.world.coco import make_coco
from vislite_common.data.world.dispatch import TASKS, make_world
from vislite_common.data.world.got10k import make_got10k
from vislite_common.data.world.lasot import make_lasot
from vislite_common.data.world.vocab import COLOURS, DEFAULT_UNSEEN, SHAPES, STUFF, TEXTURES

__all__ = [
    "COLOURS",
    "DEFAULT_UNSEEN",
    "SHAPES",
    "STUFF",
    "TASKS",
    "TEXTURES",
    "make_ade20k",
    "make_classification",
    "make_coco",
    "make_got10k",
    "make_lasot",
    "make_world",
]
