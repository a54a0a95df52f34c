"""MAE-lite model: reference parameter counts, token counts, sin-cos table, loss parity and learning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vislite_pretrain.mae_lite.masking import random_masking
from vislite_pretrain.mae_lite.model import build_mae, mae_vit_tiny_patch16
from vislite_pretrain.mae_lite.pos_embed import sincos_2d

REFERENCE = json.loads((Path(__file__).parent / "data" / "mae_reference_figures.json").read_text())


@pytest.fixture(scope="module")
def mae_tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return mae_vit_tiny_patch16().eval()


def test_parameter_counts(mae_tiny) -> None:
    assert sum(p.numel() for p in mae_tiny.parameters()) == 5_748_480
    assert sum(p.numel() for p in mae_tiny.parameters() if p.requires_grad) == 5_691_744
    decoder = sum(p.numel() for n, p in mae_tiny.named_parameters() if not n.startswith("encoder."))
    assert decoder == 224_064
    assert mae_tiny.encoder.blocks[0].attn.num_heads == 12


def test_fifty_visible_tokens_at_ratio_075(mae_tiny) -> None:
    with torch.no_grad():
        latent, mask, _, _ = mae_tiny.forward_encoder(torch.randn(2, 3, 224, 224), 0.75)
    assert latent.shape == (2, 50, 192)  # 49 patches + class token
    assert mask.sum(dim=1).tolist() == [147.0, 147.0]


def test_sincos_table() -> None:
    table = sincos_2d(192, (14, 14))
    assert table.shape == (1, 197, 192)
    assert torch.count_nonzero(table[0, 0]) == 0
    assert float((table.double() ** 2).sum()) == pytest.approx(18816.0, rel=1e-6)
    assert float(table.double().sum()) == pytest.approx(17277.5542, abs=1e-2)


def test_norm_pix_target_identity() -> None:
    patches = torch.randn(64, 196, 768, dtype=torch.float64)
    target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6) ** 0.5
    assert float((target**2).mean()) == pytest.approx(767 / 768, rel=1e-4)


def test_noise_decides_the_mask() -> None:
    tokens = torch.arange(8.0).reshape(1, 8, 1)
    noise = torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]])
    kept, mask, ids_restore, _ = random_masking(tokens, 0.75, noise)
    assert kept.flatten().tolist() == [1.0, 3.0]
    assert mask.tolist() == [[1, 0, 1, 0, 1, 1, 1, 1]]
    assert torch.equal(torch.argsort(torch.argsort(noise)), ids_restore)


def test_loss_matches_reference_implementation(mae_tiny) -> None:
    torch.manual_seed(1)
    images = torch.randn(2, 3, 224, 224)
    torch.manual_seed(2)
    noise = torch.rand(2, 196)
    with torch.no_grad():
        loss, pred, mask = mae_tiny(images, 0.75, noise)
    assert float(loss) == pytest.approx(REFERENCE["loss"], rel=1e-5)
    assert float(pred.sum()) == pytest.approx(REFERENCE["pred_sum"], rel=1e-4)
    assert float(pred.abs().sum()) == pytest.approx(REFERENCE["pred_abs_sum"], rel=1e-5)
    assert float(mask.sum()) == REFERENCE["masked"]


def test_patchify_round_trip() -> None:
    model = build_mae("test_vislite_vit", img_size=32, decoder_embed_dim=16, decoder_num_heads=2)
    images = torch.randn(2, 3, 32, 32)
    assert model.patchify(images).shape == (2, 16, 8 * 8 * 3)
    torch.testing.assert_close(model.unpatchify(model.patchify(images)), images)


def test_loss_falls_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    model = build_mae("test_vislite_vit", img_size=32, decoder_embed_dim=32, decoder_num_heads=2)
    images = torch.rand(8, 3, 32, 32).cumsum(dim=-1) / 32  # smooth ramps: predictable from neighbours
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss, _, _ = model(images, 0.75, torch.rand(8, 16, generator=torch.Generator().manual_seed(step)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
