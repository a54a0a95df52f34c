"""Classification on the embedded world: an ImageFolder datamodule that writes the world on first use."""

from __future__ import annotations

from typing import Any

from vislite_common.data.classification import ImageFolderDataModule
from vislite_common.data.world import make_classification
from vislite_common.data.world.classification import MAX_DISTRACTORS, Background


class WorldClassificationDataModule(ImageFolderDataModule):
    """:class:`ImageFolderDataModule` over the embedded classification world at ``root``.

    ``prepare_data`` generates the world there if it is missing (deterministic in ``world_seed`` and the
    size arguments), so the same config runs on a fresh machine with no dataset downloaded. ``background`` and
    ``max_distractors`` select an easier variant of the world (see :func:`make_classification`).
    """

    def __init__(
        self,
        *,
        world_seed: int = 0,
        image_size: int = 64,
        train_per_class: int = 60,
        val_per_class: int = 20,
        background: Background = "photo",
        max_distractors: int = MAX_DISTRACTORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.world_seed = world_seed
        self.image_size = image_size
        self.train_per_class = train_per_class
        self.val_per_class = val_per_class
        self.background = background
        self.max_distractors = max_distractors

    def prepare_data(self) -> None:
        make_classification(
            self.root,
            seed=self.world_seed,
            image_size=self.image_size,
            train_per_class=self.train_per_class,
            val_per_class=self.val_per_class,
            background=self.background,
            max_distractors=self.max_distractors,
            progress=True,
        )
