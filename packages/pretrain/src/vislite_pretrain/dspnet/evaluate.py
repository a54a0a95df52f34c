"""Per-width evaluation without the training engine: a linear probe on frozen features and label-subset
fine-tuning, for the demo and the tests (the ImageNet recipes run through ``dspnet_linear_in1k`` /
``dspnet_semisup_in1k``).

* :func:`probe_accuracy`: pooled features of the frozen backbone, standardised, a multinomial logistic regression
  fitted full-batch with L-BFGS (the L2 penalty chosen on a hold-out of the training split), top-1 on ``val``.
* :func:`finetune_accuracy`: the backbone and a new linear head trained together (SGD with Nesterov momentum,
  cosine schedule, no weight decay: the SimCLR / BYOL semi-supervised protocol) on a labelled subset.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from vislite_common.data.classification import ImageFolderDataset, find_classes
from vislite_common.data.transforms import build_classification_transform
from vislite_pretrain.analysis.probes import accuracy, fit_linear_probe, select_weight_decay
from vislite_pretrain.dspnet.subsets import read_label_subset, subset_indices


@torch.no_grad()
def extract_features(
    backbone: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features ``[N, C]`` and labels ``[N]`` of ``backbone`` in eval mode (its mode is restored)."""
    was_training = backbone.training
    backbone.eval()
    features, labels = [], []
    for images, targets in batches:
        features.append(backbone(images).float())
        labels.append(targets)
    backbone.train(was_training)
    return torch.cat(features), torch.cat(labels)


def probe_accuracy(
    backbone: nn.Module,
    train: Iterable[tuple[torch.Tensor, torch.Tensor]],
    val: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    weight_decays: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0),
) -> float:
    """Top-1 on ``val`` of a linear probe fitted on ``train``'s frozen features."""
    train_x, train_y = extract_features(backbone, train)
    val_x, val_y = extract_features(backbone, val)
    decay = select_weight_decay(train_x, train_y, num_classes=num_classes, candidates=weight_decays)
    probe = fit_linear_probe(train_x, train_y, num_classes=num_classes, weight_decay=decay)
    return accuracy(probe, val_x, val_y)


def finetune_accuracy(
    backbone: nn.Module,
    train: DataLoader,
    val: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    epochs: int,
    lr: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
) -> float:
    """Top-1 on ``val`` after fine-tuning a copy of ``backbone`` with a new linear head on ``train``."""
    torch.manual_seed(seed)
    net = copy.deepcopy(backbone).train()
    head = nn.Linear(int(net.num_features), num_classes)
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    model = nn.Sequential(net, head)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=True)
    total = max(1, epochs * len(train))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    for _ in range(epochs):
        for images, labels in train:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    correct = count = 0
    with torch.no_grad():
        for images, labels in val:
            correct += int((model(images).argmax(dim=1) == labels).sum())
            count += len(labels)
    return correct / max(1, count)


def split_loader(
    root: str | os.PathLike,
    split: str,
    *,
    img_size: int,
    batch_size: int,
    train_augment: bool = False,
    subset_file: str | os.PathLike | None = None,
    seed: int = 0,
) -> DataLoader:
    """Batches of ``root/split`` at ``img_size`` px: centre crops, or (``train_augment``) random-resized crops and
    flips, shuffled with ``seed``; ``subset_file`` keeps only the images it lists."""
    folder = Path(root) / split
    classes = find_classes(Path(root) / "train")
    transform = build_classification_transform(input_size=img_size, is_training=train_augment, scale=(0.35, 1.0))
    dataset = ImageFolderDataset(folder, transform=transform, classes=classes)
    if subset_file is not None:
        dataset.restrict(subset_indices(dataset, read_label_subset(subset_file), source=str(subset_file)))
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=train_augment, generator=generator, drop_last=False)
