"""DSPNet: slimmable networks pre-trained once by discriminative self-supervised learning and in-place distillation.

Only the abstract of the paper (arXiv 2207.06075) could be read: "extends the idea of slimmable networks to a
discriminative SSL paradigm, by integrating SSL and knowledge distillation". The rest follows the closest public
code, as documented in the package README: slimmable networks (Yu et al. 2019) for the backbones and the sandwich
rule, US3L (megvii-research, CVPR 2023) for the BYOL heads, the momentum teacher, the distillation loss and the
recipes.

* :func:`slimmable_backbone`, :func:`slim`: the slimmable backbones and an ordinary network of one width;
* :class:`DSPNet` / :func:`build_dspnet`, :class:`DSPNetModule`: the model and its training step;
* :func:`export_widths` / :func:`load_slim_backbone`: per-width ``backbone.safetensors`` + ``backbone.json``;
* :mod:`~vislite_pretrain.dspnet.subsets`, :mod:`~vislite_pretrain.dspnet.evaluate`: label subsets, linear and
  semi-supervised evaluation per width.
"""

from vislite_pretrain.dspnet.backbone import list_slimmable_backbones, slim, slimmable_backbone
from vislite_pretrain.dspnet.export import export_widths, load_slim_backbone, read_manifest
from vislite_pretrain.dspnet.model import DSPNet, build_dspnet
from vislite_pretrain.dspnet.module import DSPNetModule
from vislite_pretrain.dspnet.sandwich import sandwich_widths

__all__ = [
    "DSPNet",
    "DSPNetModule",
    "build_dspnet",
    "export_widths",
    "list_slimmable_backbones",
    "load_slim_backbone",
    "read_manifest",
    "sandwich_widths",
    "slim",
    "slimmable_backbone",
]
