"""Frozen modules: evaluation mode through ``train()``, no grads, out of optimizers and (unless asked) checkpoints."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from vislite_common.lit.frozen import FrozenModule, KeepFrozenMixin, freeze, in_checkpoint, is_frozen, refreeze
from vislite_common.lit.optim import OptimizerFactory


def _net() -> nn.Sequential:
    """Linear -> BatchNorm -> Dropout(0.5): every mode-dependent layer."""
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5))


class Owner(nn.Module):
    def __init__(self, frozen: nn.Module) -> None:
        super().__init__()
        self.head = nn.Linear(6, 2)
        self.teacher = frozen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.teacher(x))


class KeepingOwner(KeepFrozenMixin, Owner):
    pass


class Teacher(FrozenModule):
    def __init__(self, *, in_checkpoint: bool = False) -> None:
        super().__init__(in_checkpoint=in_checkpoint)
        self.body = _net()
        self.scale = nn.Parameter(torch.ones(6))
        self.register_parameter("shift", nn.Parameter(torch.zeros(6)))
        self.add_module("extra", nn.Linear(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.scale + self.shift


def _owner_keys(owner: nn.Module) -> set[str]:
    return {k for k in owner.state_dict() if k.startswith("teacher.")}


# ------------------------------------------------------------------------------------------- freeze()
def test_freeze_is_in_place_and_stops_grads() -> None:
    net = _net()
    keys = list(net.state_dict())
    out = freeze(net)
    assert out is net and type(out) is nn.Sequential and list(net.state_dict()) == keys
    assert is_frozen(net) and not in_checkpoint(net)
    assert not net.training and not any(m.training for m in net.modules())
    assert not any(p.requires_grad for p in net.parameters())


def test_frozen_module_runs_in_eval_whatever_the_owner_does() -> None:
    torch.manual_seed(0)
    owner = Owner(freeze(_net()))
    stats = owner.teacher[1].running_mean.clone()
    owner.train()
    assert owner.teacher.training  # a plain owner flips the flag, but the forward pre-hooks undo it
    x = torch.randn(8, 4)
    a, b = owner(x), owner(x)
    assert torch.equal(a, b)  # no dropout
    assert torch.equal(owner.teacher[1].running_mean, stats)  # no batch-norm update
    assert not any(m.training for m in owner.teacher.modules()) and owner.head.training


def test_keep_frozen_owner_resets_the_flags_at_once() -> None:
    owner = KeepingOwner(freeze(_net()))
    owner.train()
    assert owner.training and owner.head.training
    assert not any(m.training for m in owner.teacher.modules())
    owner.eval()
    owner.train(True)
    assert not owner.teacher.training


def test_gradients_reach_inputs_but_not_frozen_parameters() -> None:
    owner = Owner(freeze(_net()))
    x = torch.randn(3, 4, requires_grad=True)
    owner(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in owner.teacher.parameters())
    assert owner.head.weight.grad is not None


def test_optimizer_sees_only_trainable_parameters() -> None:
    owner = Owner(freeze(_net()))
    optimizer = OptimizerFactory(name="adamw", lr=1e-3, weight_decay=0.05)(owner, global_batch_size=8)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in owner.head.parameters()}
    assert not optimized & {id(p) for p in owner.teacher.parameters()}


def test_freezing_twice_adds_no_hooks_and_updates_in_checkpoint() -> None:
    net = freeze(_net())
    hooks = [len(m._forward_pre_hooks) for m in net.modules()]
    state_hooks = len(net._state_dict_hooks)
    freeze(net, in_checkpoint=True)
    assert [len(m._forward_pre_hooks) for m in net.modules()] == hooks == [1] * len(hooks)
    assert len(net._state_dict_hooks) == state_hooks and in_checkpoint(net)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="nn.Module"):
        freeze(torch.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not frozen"):
        in_checkpoint(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not frozen"):
        refreeze(nn.Linear(2, 2))


# ------------------------------------------------------------------------------------------- checkpoints
def test_excluded_by_default_but_its_own_state_dict_is_complete() -> None:
    owner = Owner(freeze(_net()))
    assert _owner_keys(owner) == set()
    assert set(owner.state_dict()) == {"head.weight", "head.bias"}
    assert set(owner.teacher.state_dict()) == set(_net().state_dict())  # saved on its own: everything
    assert not any(k.startswith("teacher") for k in owner.state_dict()._metadata)


def test_in_checkpoint_keeps_the_entries() -> None:
    owner = Owner(freeze(_net(), in_checkpoint=True))
    assert _owner_keys(owner) == {f"teacher.{k}" for k in _net().state_dict()}


def test_strict_load_without_the_frozen_entries_keeps_the_frozen_weights() -> None:
    torch.manual_seed(0)
    saved = Owner(freeze(_net()))
    torch.manual_seed(1)
    loaded = Owner(freeze(_net()))
    teacher_before = copy.deepcopy(loaded.teacher.state_dict())
    result = loaded.load_state_dict(saved.state_dict(), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(loaded.head.weight, saved.head.weight)
    for key, value in loaded.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key


def test_strict_load_still_checks_everything_else() -> None:
    owner = Owner(freeze(_net()))
    state = owner.state_dict()
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*head\.bias"):
        owner.load_state_dict({"head.weight": state["head.weight"]}, strict=True)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\).*other"):
        owner.load_state_dict({**state, "other": torch.zeros(1)}, strict=True)
    partial = {**state, "teacher.0.weight": torch.zeros(6, 4)}  # some of the teacher's entries but not all
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*teacher\.0\.bias"):
        owner.load_state_dict(partial, strict=True)
    lenient = owner.load_state_dict({"head.weight": state["head.weight"]}, strict=False)
    assert lenient.missing_keys == ["head.bias"]


def test_a_checkpoint_with_the_frozen_entries_still_loads_them() -> None:
    torch.manual_seed(0)
    old = Owner(freeze(_net(), in_checkpoint=True))  # e.g. written before the teacher left checkpoints
    torch.manual_seed(1)
    new = Owner(freeze(_net()))
    new.load_state_dict(old.state_dict(), strict=True)
    assert torch.equal(new.teacher[0].weight, old.teacher[0].weight)


def test_in_checkpoint_entries_are_required_when_loading() -> None:
    owner = Owner(freeze(_net(), in_checkpoint=True))
    state = {k: v for k, v in owner.state_dict().items() if not k.startswith("teacher.")}
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*teacher\.0\.weight"):
        owner.load_state_dict(state, strict=True)


def test_nested_owners_and_prefixes() -> None:
    outer = nn.Module()
    outer.model = Owner(freeze(_net()))
    outer.other = nn.Linear(2, 2)
    assert set(outer.state_dict()) == {"model.head.weight", "model.head.bias", "other.weight", "other.bias"}
    outer.load_state_dict(outer.state_dict(), strict=True)


def test_deepcopy_and_pickle_keep_the_behaviour() -> None:
    owner = Owner(freeze(_net()))
    clone = copy.deepcopy(owner)
    buffer = io.BytesIO()
    torch.save(owner, buffer)
    buffer.seek(0)
    unpickled = torch.load(buffer, weights_only=False)
    for module in (clone, unpickled):
        assert _owner_keys(module) == set() and is_frozen(module.teacher)
        module.load_state_dict(module.state_dict(), strict=True)
        module.train()
        x = torch.randn(4, 4)
        assert torch.equal(module(x), module(x))
    clone.teacher[0].weight.data.fill_(3.0)  # the copy's hooks act on the copy, not on the original
    assert not torch.equal(owner.teacher[0].weight, clone.teacher[0].weight)


# ------------------------------------------------------------------------------------------- FrozenModule
def test_frozen_module_base_class() -> None:
    teacher = Teacher()
    assert is_frozen(teacher) and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train(True)
    assert not any(m.training for m in teacher.modules())
    assert teacher.requires_grad_(True) is teacher and not any(p.requires_grad for p in teacher.parameters())
    owner = KeepingOwner(teacher)
    owner.train()
    assert owner.head.training and not any(m.training for m in teacher.modules())
    assert _owner_keys(owner) == set()
    assert {"body.0.weight", "scale", "shift", "extra.weight"} <= set(teacher.state_dict())
    owner.load_state_dict(owner.state_dict(), strict=True)
    assert _owner_keys(Owner(Teacher(in_checkpoint=True))) >= {"teacher.scale", "teacher.body.0.weight"}


def test_frozen_module_can_be_fitted_on_purpose_then_refrozen() -> None:
    teacher = Teacher()
    for p in teacher.parameters():
        p.requires_grad_(True)
    nn.Module.train(teacher, True)
    assert teacher.body[2].training
    teacher(torch.randn(4, 4)).sum().backward()
    assert teacher.scale.grad is not None
    refreeze(teacher)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


# ------------------------------------------------------------------------------------------- Lightning
class _LitOwner(pl.LightningModule):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.model = KeepingOwner(freeze(_net()))

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        assert not self.model.teacher.training
        return self.model(batch[0]).square().mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.1)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        data = torch.utils.data.TensorDataset(torch.randn(16, 4))
        return torch.utils.data.DataLoader(data, batch_size=4)


def _trainer(tmp_path: Path, steps: int) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=tmp_path, max_steps=steps, logger=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1,
    )


def test_lightning_checkpoint_leaves_the_teacher_out_and_resumes_strictly(tmp_path: Path) -> None:
    module = _LitOwner(seed=0)
    teacher = copy.deepcopy(module.model.teacher.state_dict())
    trainer = _trainer(tmp_path, 2)
    trainer.fit(module)
    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=False)["state_dict"]
    assert set(saved) == {"model.head.weight", "model.head.bias"}
    for key, value in module.model.teacher.state_dict().items():
        assert torch.equal(value, teacher[key]), key  # untouched by training
    resumed = _LitOwner(seed=0)
    _trainer(tmp_path, 4).fit(resumed, ckpt_path=path)  # strict load of a checkpoint without the teacher
    reloaded = _LitOwner.load_from_checkpoint(path, seed=0)
    assert torch.equal(reloaded.model.head.weight, module.model.head.weight)
