"""The ViT encoder found in each checkpoint layout downstream packages accept."""

from __future__ import annotations

import timm
import torch

import vislite_common  # noqa: F401
from vislite_common.backbones.encoder_weights import (
    drop_probe_block,
    encoder_state_dict,
    keep_subtree,
    probe_block_index,
)


def _encoder() -> dict[str, torch.Tensor]:
    return timm.create_model("test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False).state_dict()


def test_every_layout_gives_the_same_encoder() -> None:
    encoder = _encoder()
    decoder = {"mask_token": torch.zeros(1, 1, 8), "decoder_embed.weight": torch.zeros(8, 32)}
    layouts = {
        "timm": encoder,
        "lightning MAE": {"state_dict": {f"model.encoder.{k}": v for k, v in {**encoder}.items()}},
        "released MAE-Lite": {
            "model": {
                **{f"module.model.{k}": v for k, v in {**encoder, **decoder}.items()},
                "module.tch_model.blocks.0.attn.qkv.weight": torch.zeros(3),
            }
        },
        "lightning distillation": {
            "state_dict": {
                **{f"model.student.encoder.{k}": v for k, v in encoder.items()},
                "model.teacher.blocks.0.norm1.weight": torch.zeros(3),
                "model.adapter.weight": torch.zeros(3),
            }
        },
        "lightning MoCo-v3": {
            "state_dict": {
                **{f"model.base_encoder.{k}": v for k, v in encoder.items()},
                **{f"model.momentum_encoder.{k}": torch.zeros_like(v) for k, v in encoder.items()},
                "model.base_projector.0.weight": torch.zeros(4, 32),
                "model.predictor.0.weight": torch.zeros(4, 4),
            }
        },
        "released MoCo-v3": {
            "state_dict": {
                **{f"module.base_encoder.{k}": v for k, v in encoder.items()},
                "module.base_encoder.head.0.weight": torch.zeros(4, 32),  # the projector
                **{f"module.momentum_encoder.{k}": torch.zeros_like(v) for k, v in encoder.items()},
            }
        },
        "fine-tuned classifier": {
            "state_dict": {**{f"model.{k}": v for k, v in encoder.items()}, "model.head.weight": torch.zeros(8, 32)}
        },
    }
    for name, checkpoint in layouts.items():
        state = encoder_state_dict(checkpoint)
        assert sorted(state) == sorted(encoder), name
        assert all(torch.equal(state[k], encoder[k]) for k in encoder), name


def test_drop_and_subtrees_are_chosen_by_the_caller() -> None:
    state = {"encoder.norm.weight": torch.ones(2), "encoder.head.weight": torch.ones(2), "neck.w": torch.ones(1)}
    assert sorted(encoder_state_dict(state)) == ["norm.weight"]
    assert sorted(encoder_state_dict(state, drop=("norm.",), subtrees=())) == [
        "encoder.head.weight",
        "encoder.norm.weight",
        "neck.w",
    ]
    assert keep_subtree({"a.x": torch.ones(1)}, "b.") == {"a.x": torch.ones(1)}


def test_a_d2mae_students_probe_block_is_dropped_and_its_norm1_becomes_the_final_norm() -> None:
    encoder = _encoder()  # 4 blocks
    probe = {
        "blocks.4.norm1.weight": torch.full((32,), 2.0),
        "blocks.4.norm1.bias": torch.full((32,), 3.0),
        "blocks.4.attn.qkv.weight": torch.zeros(96, 32),
        "blocks.4.attn.qkv.bias": torch.zeros(96),
    }
    checkpoint = {"state_dict": {f"model.student.encoder.{k}": v for k, v in {**encoder, **probe}.items()}}
    state = encoder_state_dict(checkpoint)
    assert sorted(state) == sorted(encoder)
    assert torch.equal(state["norm.weight"], probe["blocks.4.norm1.weight"])
    assert torch.equal(state["norm.bias"], probe["blocks.4.norm1.bias"])
    assert probe_block_index(encoder) is None and drop_probe_block(encoder) == encoder  # a plain ViT unchanged
