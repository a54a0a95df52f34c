"""Two-view datamodules for contrastive pre-training, over ImageFolder data or the embedded world.

Every split yields ``((view1, view2), label)``; labels are kept (for probes) but unused by the loss. Training
pairs are seeded per sample by the :class:`~vislite_common.data.samplers.EpochShuffleSampler` (so they change every
epoch and survive resumes); validation and test pairs are seeded by the sample index alone (:class:`FixedViews`),
so ``val/loss`` is comparable across epochs and runs.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from vislite_common.data.classification import ImageFolderDataModule, ImageFolderDataset
from vislite_common.data.world_datamodule import WorldClassificationDataModule
from vislite_pretrain.mocov3.augment import ViewPair


class FixedViews(Dataset):
    """``dataset[i]`` with the augmentation seeded by ``(seed, i)``: the same pair of views at every epoch."""

    def __init__(self, dataset: ImageFolderDataset, *, seed: int = 0) -> None:
        if not getattr(dataset, "accepts_seeded_index", False):
            raise TypeError(f"{type(dataset).__name__} does not take (index, seed) pairs")
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[(index, (self.seed * 1_000_003 + index) % 2**32)]


class TwoViewMixin:
    """Replaces an :class:`ImageFolderDataModule`'s transforms by a :class:`ViewPair` on every split.

    The classification transform arguments (colour jitter, RandAugment, random erasing) do not apply: the pair
    carries its own augmentation.
    """

    def __init__(self, *, views: ViewPair, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if views.size != self.input_size:
            raise ValueError(f"views.size ({views.size}) must equal the datamodule's input_size ({self.input_size})")
        self.views = views
        self.train_transform = views
        self.eval_transform = views

    def build_datasets(self, stage: str | None) -> dict[str, Dataset]:
        built = super().build_datasets(stage)
        return {split: ds if split == "train" else FixedViews(ds, seed=self.seed) for split, ds in built.items()}


class TwoViewImageFolderDataModule(TwoViewMixin, ImageFolderDataModule):
    """ImageFolder splits (e.g. ImageNet) as pairs of views: ``TwoViewImageFolderDataModule(views=..., root=...,
    batch_size=...)`` with :class:`ImageFolderDataModule`'s other arguments."""


class WorldTwoViewDataModule(TwoViewMixin, WorldClassificationDataModule):
    """The embedded classification world (generated on first use) as pairs of views.

    Takes :class:`WorldClassificationDataModule`'s arguments, including the easier variant's ``background`` and
    ``max_distractors``.
    """
