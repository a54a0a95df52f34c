"""Optimizer factory: AdamW/SGD/LARS with layer-wise lr decay and no weight decay on norms, biases and tokens.

A factory is a small callable object, so Hydra (``_target_``) and LightningCLI (``class_path``) build the same
thing; the LightningModule calls it with the model and the global batch size once training starts::

    optimizer = OptimizerFactory(name="adamw", base_lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05)
    opt = optimizer(model, global_batch_size=4096)      # lr = 1.5e-4 * 4096 / 256 = 2.4e-3
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

import torch
from timm.optim import param_groups_layer_decay, param_groups_weight_decay
from torch import nn

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}


def register_optimizer(name: str, cls: Callable[..., torch.optim.Optimizer]) -> None:
    """Make an optimizer class available to :class:`OptimizerFactory` under ``name`` (e.g. LARS)."""
    OPTIMIZERS[name] = cls


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Parameter names the model asks to keep out of weight decay (``model.no_weight_decay()``, timm style)."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        if hasattr(module, "no_weight_decay") and callable(module.no_weight_decay):
            names |= {f"{prefix}.{n}" if prefix else n for n in module.no_weight_decay()}
    return names


DECAY_RULES = ("names", "timm_0412", "mmseg", "all")
"""Which parameters skip weight decay (``decay_rule``):

* ``names``: 1-D parameters, ``.bias`` and the model's ``no_weight_decay()`` names (timm >= 0.5, MAE-Lite's
  fine-tuning, whose skip list is the ViT's ``{pos_embed, cls_token}``);
* ``timm_0412``: 1-D parameters and ``.bias`` only. timm 0.4.12's ``create_optimizer`` asks the model it is given
  for ``no_weight_decay()``; MAE-Lite pre-training gives it a wrapper that has none, so class / mask tokens and
  learned position tables are decayed;
* ``mmseg``: 1-D parameters, ``.bias`` and the names ``pos_embed`` / ``cls_token`` compared with the full,
  prefixed names (mmseg's ``LayerDecayOptimizerConstructor``): inside a segmentor they never match, so those two
  are decayed;
* ``all``: every trainable parameter decayed (official MoCo-v3's ``AdamW(model.parameters())``).
"""
MMSEG_NO_DECAY_NAMES = ("pos_embed", "cls_token")


def no_decay_names_for_rule(model: nn.Module, rule: str) -> set[str]:
    """The full parameter names ``rule`` keeps out of decay on top of 1-D parameters and biases."""
    if rule not in DECAY_RULES:
        raise ValueError(f"decay_rule must be one of {list(DECAY_RULES)}, got {rule!r}")
    if rule == "names":
        return no_weight_decay_names(model)
    if rule == "mmseg":
        return set(MMSEG_NO_DECAY_NAMES)
    return set()


def build_param_groups(
    model: nn.Module,
    *,
    weight_decay: float,
    layer_decay: float | None = None,
    extra_no_decay: Iterable[str] = (),
    decay_all: bool = False,
    decay_rule: str = "names",
) -> list[dict]:
    """Parameter groups with ``weight_decay`` off for 1-D params (norms, biases) and tokens / position embeddings.

    With ``layer_decay`` each group also carries ``lr_scale = layer_decay ** (last_layer - layer_id)``
    (BEiT/MAE-Lite layer-wise lr decay, layer ids from the model's ``group_matcher``). ``decay_all`` puts every
    trainable parameter in one decayed group instead (``AdamW(model.parameters())``, as official MoCo-v3 does), as
    does ``decay_rule="all"``; the other rules are listed in :data:`DECAY_RULES`.
    """
    if decay_all or decay_rule == "all":
        if layer_decay not in (None, 1.0):
            raise ValueError(f"decay_all=True takes no layer_decay (got {layer_decay}): it makes a single group")
        params = [p for p in model.parameters() if p.requires_grad]
        return [{"params": params, "weight_decay": weight_decay, "lr_scale": 1.0}]
    no_decay = no_decay_names_for_rule(model, decay_rule) | set(extra_no_decay)
    if layer_decay is None or layer_decay == 1.0:
        groups = param_groups_weight_decay(model, weight_decay=weight_decay, no_weight_decay_list=no_decay)
        for group in groups:
            group.setdefault("lr_scale", 1.0)
        return groups
    return param_groups_layer_decay(
        model, weight_decay=weight_decay, no_weight_decay_list=no_decay, layer_decay=layer_decay
    )


def _import_class(path: str) -> Callable[..., torch.optim.Optimizer]:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"optimizer class {path!r} cannot be imported: {error}") from error


class OptimizerFactory:
    """Builds the optimizer for a model; the lr is either absolute (``lr``) or ``base_lr * batch / base_batch``.

    ``decay_rule`` chooses the parameters exempt from weight decay (:data:`DECAY_RULES`: ``names`` by default,
    ``timm_0412`` for MAE-Lite pre-training, ``mmseg`` for segmentation). ``name`` is a registered name
    (``adamw``, ``adam``, ``sgd``) or the dotted path of an optimizer class taking ``momentum`` (e.g.
    ``vislite_pretrain.lit.lars.LARS``). ``nesterov`` applies to SGD.
    """

    def __init__(
        self,
        *,
        name: str = "adamw",
        lr: float | None = None,
        base_lr: float | None = None,
        base_batch_size: int = 256,
        weight_decay: float = 0.05,
        layer_decay: float | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        momentum: float = 0.9,
        extra_no_decay: tuple[str, ...] = (),
        decay_all: bool = False,
        decay_rule: str = "names",
        nesterov: bool = False,
    ) -> None:
        if name not in OPTIMIZERS and "." not in name:
            raise ValueError(
                f"optimizer name {name!r} is unknown; expected one of {sorted(OPTIMIZERS)} or a dotted class path"
            )
        if (lr is None) == (base_lr is None):
            raise ValueError(f"set exactly one of lr (absolute) or base_lr (per {base_batch_size} images)")
        self.name, self.lr, self.base_lr, self.base_batch_size = name, lr, base_lr, base_batch_size
        self.weight_decay, self.layer_decay = weight_decay, layer_decay
        self.betas, self.eps, self.momentum = tuple(betas), eps, momentum
        self.extra_no_decay = tuple(extra_no_decay)
        self.decay_all = bool(decay_all)
        if decay_rule not in DECAY_RULES:
            raise ValueError(f"decay_rule must be one of {list(DECAY_RULES)}, got {decay_rule!r}")
        self.decay_rule = decay_rule
        self.nesterov = bool(nesterov)

    def learning_rate(self, global_batch_size: int) -> float:
        """The absolute peak learning rate for this global batch size."""
        if self.lr is not None:
            return self.lr
        return self.base_lr * global_batch_size / self.base_batch_size

    def __call__(self, model: nn.Module, *, global_batch_size: int) -> torch.optim.Optimizer:
        lr = self.learning_rate(global_batch_size)
        groups = build_param_groups(
            model,
            weight_decay=self.weight_decay,
            layer_decay=self.layer_decay,
            extra_no_decay=self.extra_no_decay,
            decay_all=self.decay_all,
            decay_rule=self.decay_rule,
        )
        for group in groups:
            group["lr"] = lr * group["lr_scale"]
        cls = OPTIMIZERS[self.name] if self.name in OPTIMIZERS else _import_class(self.name)
        kwargs: dict = {"lr": lr}
        if self.name in ("adamw", "adam"):
            kwargs.update(betas=self.betas, eps=self.eps)
        else:
            kwargs.update(momentum=self.momentum)
            if self.nesterov:
                kwargs.update(nesterov=True)
        return cls(groups, **kwargs)

    def __repr__(self) -> str:
        return (
            f"OptimizerFactory(name={self.name!r}, lr={self.lr}, base_lr={self.base_lr}, "
            f"weight_decay={self.weight_decay}, layer_decay={self.layer_decay})"
        )
