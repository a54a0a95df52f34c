"""Frozen modules: teachers and encoders that never train, never reach an optimizer and, unless asked, stay out of
their owner's checkpoints.

Two ways in, with the same guarantees:

* :func:`freeze` turns any module (a detector, a timm encoder) into a frozen one **in place**, keeping its class
  and its state-dict keys::

      self.teacher = freeze(detector)                    # weights left out of the owner's state_dict()
      self.teacher = freeze(detector, in_checkpoint=True)  # weights kept in it (a self-contained checkpoint)

* :class:`FrozenModule` is the base class of a frozen component written for the purpose (a teacher with its own
  ``forward``): everything assigned to it is frozen, its ``train()`` always means ``eval()`` and its
  ``requires_grad_()`` always means ``requires_grad_(False)``.

What frozen means:

* **evaluation mode**: dropout off, batch-norm statistics fixed. A :class:`FrozenModule` keeps ``training=False``
  whatever ``train()`` is called on it or on its parents. A module frozen with :func:`freeze` is put back in
  evaluation mode by a forward pre-hook on each of its submodules, so nothing ever runs in training mode; an
  owner deriving from :class:`KeepFrozenMixin` also resets the flags in its own ``train()``, so ``.training``
  reads ``False`` right away.
* **no gradients**: its parameters never require grad, so no gradient reaches them and optimizers built from
  ``requires_grad`` parameters (:class:`~vislite_common.lit.optim.OptimizerFactory`, timm's parameter groups)
  leave them out. Gradients still flow *through* it to its inputs (an attack on a frozen network works).
* **checkpoints**: by default its entries are dropped from the state dict of any module that contains it (its
  own ``state_dict()`` still returns everything), and loading the owner with ``strict=True`` accepts a state dict
  without them (the frozen module keeps the weights it was built with). A state dict that does hold them (an
  older checkpoint) still loads them; one that holds only some of them is refused as usual. With
  ``in_checkpoint=True`` the entries are saved and, on loading, required like any other.
"""

from __future__ import annotations

from typing import Any, TypeVar

from torch import nn

M = TypeVar("M", bound=nn.Module)

_IN_CHECKPOINT = "_frozen_in_checkpoint"  # bool: keep the entries in the owner's state dict
_SKIPPED_PREFIX = "_frozen_skipped_prefix"  # str, only during a load: the owner's state dict had none of ours
_HOOKED = "_frozen_hooks"  # the checkpoint hooks are registered
_EVAL_HOOKED = "_frozen_eval_hook"  # this submodule has the stay-in-eval forward pre-hook


def is_frozen(module: nn.Module) -> bool:
    """Whether ``module`` was frozen with :func:`freeze` or is a :class:`FrozenModule`."""
    return bool(module.__dict__.get(_HOOKED, False))


def in_checkpoint(module: nn.Module) -> bool:
    """Whether the frozen ``module``'s entries are kept in its owner's state dict."""
    if not is_frozen(module):
        raise ValueError(f"{type(module).__name__} is not frozen (use vislite_common.lit.frozen.freeze)")
    return bool(module.__dict__[_IN_CHECKPOINT])


def freeze(module: M, *, in_checkpoint: bool = False) -> M:
    """Freeze ``module`` in place and return it (same object, class and state-dict keys).

    Its parameters stop requiring grad, it switches to evaluation mode and stays there at every forward (a
    forward pre-hook on each submodule present now), and its entries leave the state dict of any module that
    contains it unless ``in_checkpoint`` (see the module docstring). Freezing again only updates
    ``in_checkpoint``. Submodules added afterwards are not covered: freeze a module once it is built.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"freeze expects an nn.Module, got {type(module).__name__}")
    _hook_checkpoints(module, in_checkpoint=in_checkpoint)
    for submodule in module.modules():
        if not submodule.__dict__.get(_EVAL_HOOKED, False):
            submodule.register_forward_pre_hook(_stay_in_eval)
            submodule.__dict__[_EVAL_HOOKED] = True
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    nn.Module.train(module, False)
    return module


class FrozenModule(nn.Module):
    """Base class of a frozen component: modules and parameters assigned to it are frozen, ``train(mode)`` keeps
    evaluation mode whatever ``mode`` (also when called by a parent) and ``requires_grad_(...)`` keeps the
    parameters frozen. Its entries are left out of an owner's state dict unless ``in_checkpoint=True``.

    A subclass calls ``super().__init__(in_checkpoint=...)`` first and then assigns its parts as usual. To fit a
    frozen component on purpose (e.g. a surrogate teacher), set ``requires_grad`` per parameter and call
    ``nn.Module.train(module, True)`` explicitly; :func:`refreeze` restores it.
    """

    def __init__(self, *, in_checkpoint: bool = False) -> None:
        super().__init__()
        _hook_checkpoints(self, in_checkpoint=in_checkpoint)
        self.training = False

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, nn.Module):
            value.requires_grad_(False)
            value.eval()
        elif isinstance(value, nn.Parameter):
            value.requires_grad_(False)
        super().__setattr__(name, value)

    def add_module(self, name: str, module: nn.Module | None) -> None:
        if module is not None:
            module.requires_grad_(False)
            module.eval()
        super().add_module(name, module)

    def register_module(self, name: str, module: nn.Module | None) -> None:
        self.add_module(name, module)

    def register_parameter(self, name: str, param: nn.Parameter | None) -> None:
        if param is not None:
            param.requires_grad_(False)
        super().register_parameter(name, param)

    def train(self, mode: bool = True) -> FrozenModule:
        """Always evaluation mode: the module is frozen (``mode`` is ignored)."""
        return super().train(False)

    def requires_grad_(self, requires_grad: bool = True) -> FrozenModule:
        """Always ``requires_grad=False``: the module is frozen (the argument is ignored)."""
        return super().requires_grad_(False)


def refreeze(module: M) -> M:
    """Put a frozen module that was fitted on purpose back into its frozen state (no grads, evaluation mode)."""
    if not is_frozen(module):
        raise ValueError(f"{type(module).__name__} is not frozen (use vislite_common.lit.frozen.freeze)")
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    nn.Module.train(module, False)
    return module


class KeepFrozenMixin(nn.Module):
    """An owner whose ``train(mode)`` puts every frozen submodule back in evaluation mode afterwards, so that their
    ``training`` flags read ``False`` at once (their forward pre-hooks would otherwise do it at the next call)."""

    def train(self, mode: bool = True) -> KeepFrozenMixin:
        super().train(mode)
        if mode:
            for module in self.modules():
                if module is not self and is_frozen(module):
                    nn.Module.train(module, False)
        return self


# ----------------------------------------------------------------------------------------------------- hooks
def _hook_checkpoints(module: nn.Module, *, in_checkpoint: bool) -> None:
    module.__dict__[_IN_CHECKPOINT] = bool(in_checkpoint)
    if module.__dict__.get(_HOOKED, False):
        return
    module.register_state_dict_post_hook(_leave_owner_state_dict)
    module.register_load_state_dict_pre_hook(_note_absent_entries)
    module.register_load_state_dict_post_hook(_forgive_absent_entries)
    module.__dict__[_HOOKED] = True


def _stay_in_eval(module: nn.Module, args: Any) -> None:
    """Forward pre-hook: a frozen submodule switched to training mode by a parent runs in evaluation mode."""
    if module.training:
        module.training = False


def _leave_owner_state_dict(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """State-dict post-hook: drop the module's entries when it is saved as part of an owner (``prefix`` set)."""
    if not prefix or module.__dict__.get(_IN_CHECKPOINT, False):
        return
    for key in [key for key in state_dict if key.startswith(prefix)]:
        del state_dict[key]
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in [key for key in metadata if key == prefix[:-1] or key.startswith(prefix)]:
            del metadata[key]


def _note_absent_entries(
    module: nn.Module,
    state_dict: dict[str, Any],
    prefix: str,
    local_metadata: Any,
    strict: bool,
    missing_keys: list[str],
    unexpected_keys: list[str],
    error_msgs: list[str],
) -> None:
    """Load pre-hook: remember that an owner's state dict has none of the module's entries (it was saved without
    them), so that :func:`_forgive_absent_entries` can clear them from the missing keys."""
    absent = bool(prefix) and not module.__dict__.get(_IN_CHECKPOINT, False)
    absent = absent and not any(key.startswith(prefix) for key in state_dict)
    module.__dict__[_SKIPPED_PREFIX] = prefix if absent else None


def _forgive_absent_entries(module: nn.Module, incompatible_keys: Any) -> None:
    """Load post-hook: the entries of a module saved outside its owner's checkpoint are not missing."""
    prefix = module.__dict__.pop(_SKIPPED_PREFIX, None)
    if prefix:
        missing = incompatible_keys.missing_keys
        missing[:] = [key for key in missing if not key.startswith(prefix)]
