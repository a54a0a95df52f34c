"""Linear probing: the encoder stays frozen in eval mode, the optimizer and the checkpoint hold the head only."""

from __future__ import annotations

import copy

import pytest
import torch

from vislite_common.lit.frozen import is_frozen
from vislite_common.lit.optim import OptimizerFactory
from vislite_pretrain.lit.linear_probe import LinearProbeClassifier, LinearProbeModel
from vislite_pretrain.weights import build_vit_encoder


def _probe(seed: int) -> LinearProbeClassifier:
    torch.manual_seed(seed)
    encoder = build_vit_encoder("test_vislite_vit", img_size=32, drop_rate=0.5)
    model = LinearProbeModel(encoder=encoder, num_classes=3)
    return LinearProbeClassifier(model=model, num_classes=3, optimizer=OptimizerFactory(name="sgd", lr=0.1))


def test_encoder_frozen_through_train_and_head_trains() -> None:
    module = _probe(0)
    module.train()
    encoder = module.model.encoder
    assert is_frozen(encoder) and module.model.head.training
    assert not any(m.training for m in encoder.modules())
    assert not any(p.requires_grad for p in encoder.parameters())
    images = torch.rand(4, 3, 32, 32)
    assert torch.equal(module.model.features(images), module.model.features(images))  # no dropout
    optimizer = module.optimizer_factory(module.optimized_module(), global_batch_size=4)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in module.model.head.parameters() if p.requires_grad}


def test_checkpoint_holds_the_head_and_loads_strictly() -> None:
    saved = _probe(0)
    with torch.no_grad():
        saved.model.head[1].weight.add_(1.0)
    state = saved.state_dict()
    assert state and all(k.startswith("model.head.") for k in state)
    loaded = _probe(0)  # the encoder comes from its init, as every run builds it
    encoder = copy.deepcopy(loaded.model.encoder.state_dict())
    loaded.load_state_dict(state, strict=True)
    assert torch.equal(loaded.model.head[1].weight, saved.model.head[1].weight)
    assert all(torch.equal(v, encoder[k]) for k, v in loaded.model.encoder.state_dict().items())
    old = {**state, **{f"model.encoder.{k}": v for k, v in saved.model.encoder.state_dict().items()}}
    _probe(1).load_state_dict(old, strict=True)  # a checkpoint written with the encoder still loads
    with pytest.raises(RuntimeError, match="model.head.1.bias"):
        loaded.load_state_dict({k: v for k, v in state.items() if k != "model.head.1.bias"}, strict=True)
