"""A CLIP-like surrogate teacher for the embedded world, where no real CLIP weights exist.

Text side: the sum of fixed pseudo-random word vectors (seeded by the word; plurals folded to the shape name,
function words dropped), so "a photo of a ring." and a caption naming a ring share the "ring" direction. Image
side: a small CNN fitted (:func:`fit_surrogate`) to map box crops of *all* the world's shapes to their class
texts, standing in for CLIP's web-scale knowledge of classes the detector never sees labelled.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vislite_common.data.world.vocab import SHAPES, plural
from vislite_detection.hierkd.logits import l2_normalise
from vislite_detection.hierkd.teacher import VisionLanguageTeacher

STOPWORDS = frozenset({"a", "an", "the", "of", "photo", "and", "on", "in", "front", "nothing", "but", "its"})
_SINGULAR = {plural(s): s for s in SHAPES}


def word_vector(word: str, dim: int) -> Tensor:
    """A fixed N(0, 1) vector of ``word`` (seeded by its CRC-32)."""
    generator = torch.Generator().manual_seed(zlib.crc32(word.encode("utf-8")))
    return torch.randn(dim, generator=generator)


class WorldSurrogateTeacher(VisionLanguageTeacher):
    """Bag-of-word-vectors text encoder + small CNN image encoder of width ``width`` (see the module docstring).

    The CNN sees crops average-pooled to ``input_size`` pixels. Untrained it is random; fit it with
    :func:`fit_surrogate` (or load a state dict).
    """

    def __init__(self, *, width: int = 64, input_size: int = 24) -> None:
        super().__init__()
        self.width, self.input_size = width, input_size
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            nn.Linear(32, width),
        )  # fmt: skip

    @staticmethod
    def words(text: str) -> list[str]:
        """Content words of ``text`` (lower case, plurals of shape names folded, function words dropped)."""
        tokens = re.findall(r"[a-z]+", text.lower())
        return [_SINGULAR.get(t, t) for t in tokens if t not in STOPWORDS]

    def _encode_text(self, texts: list[str]) -> Tensor:
        rows = []
        for text in texts:
            vecs = [word_vector(w, self.width) for w in self.words(text)]
            rows.append(torch.stack(vecs).sum(0) if vecs else torch.zeros(self.width))
        return torch.stack(rows).to(self._device())

    def features(self, images: Tensor) -> Tensor:
        """(n, 3, H, W) → (n, width), with gradients (for fitting)."""
        return self.encoder(F.adaptive_avg_pool2d(images, self.input_size))

    def _encode_image(self, images: Tensor) -> Tensor:
        return self.features(images)


def fit_surrogate(
    teacher: WorldSurrogateTeacher,
    crops: Tensor,
    names: Sequence[str],
    *,
    prompt: str = "a photo of a {}.",
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 3e-3,
    temperature: float = 10.0,
    seed: int = 0,
) -> list[float]:
    """Fit the image encoder so that crops (n, 3, s, s) match the text of their class ``names[i]``.

    Cosine logits × ``temperature`` against the prompts of the distinct names, cross-entropy, Adam. Returns the
    per-step losses; leaves the teacher frozen in evaluation mode.
    """
    if crops.shape[0] != len(names) or crops.shape[0] == 0:
        raise ValueError(f"{crops.shape[0]} crops but {len(names)} names")
    classes = sorted(set(names))
    text = teacher.text_embeddings([prompt.format(c) for c in classes]).to(crops.device)  # (K, D)
    target = torch.tensor([classes.index(n) for n in names], device=crops.device)
    pooled = F.adaptive_avg_pool2d(crops, teacher.input_size)  # (n, 3, s, s)
    for p in teacher.parameters():
        p.requires_grad_(True)
    nn.Module.train(teacher, True)
    optimiser = torch.optim.Adam(teacher.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, pooled.shape[0], (min(batch_size, pooled.shape[0]),), generator=generator)
        logits = temperature * l2_normalise(teacher.encoder(pooled[idx])) @ text.t()
        loss = F.cross_entropy(logits, target[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher.eval()
    return losses
