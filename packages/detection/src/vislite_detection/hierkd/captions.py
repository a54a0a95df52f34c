"""Per-image captions for global distillation, read from a COCO ``captions_*.json`` file."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path


class CaptionBank:
    """``image_id → [captions]`` from one or more COCO caption files; :meth:`sample` draws one per image.

    The files are read on first use (a data module may write them after the model is built).
    """

    def __init__(self, files: str | os.PathLike | Sequence[str | os.PathLike], *, seed: int = 0) -> None:
        paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(f) for f in files]
        self.sources = paths
        self._captions: dict[int, list[str]] | None = None
        self._rng = random.Random(seed)

    @property
    def captions(self) -> dict[int, list[str]]:
        """The loaded ``image_id → [captions]`` map."""
        if self._captions is None:
            self._captions = self._load()
        return self._captions

    def _load(self) -> dict[int, list[str]]:
        captions: dict[int, list[str]] = {}
        for path in self.sources:
            if not path.is_file():
                raise FileNotFoundError(f"caption file {path} not found")
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
                raise ValueError(f"{path}: expected a COCO captions file with an 'annotations' list")
            for k, ann in enumerate(data["annotations"]):
                if "image_id" not in ann or not isinstance(ann.get("caption"), str):
                    raise ValueError(f"{path}: annotations[{k}] needs 'image_id' and a string 'caption'")
                captions.setdefault(int(ann["image_id"]), []).append(ann["caption"])
        return captions

    def sample(self, image_ids: Sequence[int]) -> list[str]:
        """One random caption per image id; an id without captions raises ``KeyError`` naming the files."""
        out = []
        for image_id in image_ids:
            options = self.captions.get(int(image_id))
            if not options:
                names = ", ".join(str(p) for p in self.sources)
                raise KeyError(f"no caption for image id {int(image_id)} in {names}")
            out.append(options[self._rng.randrange(len(options))])
        return out
