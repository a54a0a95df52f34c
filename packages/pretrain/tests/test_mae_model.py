"""MAE-lite model: reference parameter and token counts, sin-cos table, norm-pix target, reference parity, API."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from vislite_pretrain.mae_lite import (
    MAE_MODELS,
    MaskedAutoencoderViT,
    create_mae,
    get_2d_sincos_pos_embed,
    mae_test_vit,
    mae_vit_tiny_patch16,
    make_masking,
    optimizer_speed_kwargs,
    precision_context,
    random_masking,
    set_attention_impl,
    sincos_pos_embed,
    to_reference_keys,
)

REFERENCE = json.loads((Path(__file__).parent / "data" / "mae_reference_figures.json").read_text())


@pytest.fixture(scope="module")
def mae_tiny() -> MaskedAutoencoderViT:
    torch.manual_seed(0)  # the weights the reference figures were computed with
    return mae_vit_tiny_patch16()


def _count(model: torch.nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def test_parameter_counts(mae_tiny: MaskedAutoencoderViT) -> None:
    assert _count(mae_tiny) == 5_748_480
    assert _count(mae_tiny, trainable=True) == 5_691_744  # 56,736 = fixed tables 197x192 + 197x96
    decoder = sum(p.numel() for n, p in mae_tiny.named_parameters() if not n.startswith("encoder."))
    assert decoder == 224_064  # decoder + mask token, fixed decoder table included
    assert mae_tiny.encoder.blocks[0].attn.num_heads == 12
    assert mae_tiny.decoder_blocks[0].attn.num_heads == 3


def test_fifty_visible_tokens_at_ratio_075(mae_tiny: MaskedAutoencoderViT) -> None:
    with torch.no_grad():
        latent, mask, ids_restore, ids_shuffle = mae_tiny.forward_encoder(torch.randn(2, 3, 224, 224), 0.75)
    assert latent.shape == (2, 50, 192)  # 49 patches + class token
    assert mask.sum(dim=1).tolist() == [147.0, 147.0]
    assert ids_restore.shape == ids_shuffle.shape == (2, 196)
    assert mae_tiny.num_visible() == 49


def test_sincos_table() -> None:
    table = sincos_pos_embed(192, 14)
    assert table.shape == (1, 197, 192) and table.dtype == torch.float32
    assert torch.count_nonzero(table[0, 0]) == 0
    assert float((table.double() ** 2).sum()) == pytest.approx(18816.0, rel=1e-6)
    assert float(table.double().sum()) == pytest.approx(17277.5542, abs=1e-3)


def test_sincos_layout_is_maes() -> None:
    """First half encodes the column (w) index, second half the row (h) index; [sin, cos] within each half."""
    dim, rows, cols = 16, 3, 5
    table = get_2d_sincos_pos_embed(dim, (rows, cols), cls_token=False)  # [rows*cols, dim]
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    for r in range(rows):
        for c in range(cols):
            expected = torch.cat([(c * omega).sin(), (c * omega).cos(), (r * omega).sin(), (r * omega).cos()])
            torch.testing.assert_close(torch.from_numpy(table[r * cols + c]), expected)


def test_norm_pix_target_identity(mae_tiny: MaskedAutoencoderViT) -> None:
    """With a zero prediction the loss is E[t^2] of the norm-pix target, (n - 1) / n for unbiased variance."""
    model = mae_test_vit()
    images = torch.randn(64, 3, 32, 32, dtype=torch.float64)
    mask = torch.ones(64, model.num_patches)
    n = model.patch_size**2 * 3
    loss = model.forward_loss(images, torch.zeros(64, model.num_patches, n, dtype=torch.float64), mask)
    assert float(loss) == pytest.approx((n - 1) / n, rel=1e-5)  # eps 1e-6 shifts it by ~1e-6
    loss = mae_tiny.forward_loss(torch.randn(8, 3, 224, 224), torch.zeros(8, 196, 768), torch.ones(8, 196))
    assert float(loss) == pytest.approx(767 / 768, rel=1e-5)


def test_noise_decides_the_mask() -> None:
    tokens = torch.arange(8.0).reshape(1, 8, 1)
    noise = torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]])
    kept, mask, ids_restore, ids_shuffle = random_masking(tokens, 0.75, noise)
    assert kept.flatten().tolist() == [1.0, 3.0]  # the two smallest noise values, in ascending order
    assert mask.tolist() == [[1, 0, 1, 0, 1, 1, 1, 1]]
    assert torch.equal(ids_shuffle, torch.argsort(noise)) and torch.equal(ids_restore, torch.argsort(ids_shuffle))
    again = make_masking(1, 8, 0.75, ids_shuffle=ids_shuffle)  # a given permutation overrides the noise
    assert torch.equal(again.mask, mask)


@pytest.mark.parametrize(("visible_patch_embed", "attention"), [(True, "auto"), (False, "fused"), (True, "explicit")])
def test_matches_the_reference_implementation(
    mae_tiny: MaskedAutoencoderViT, visible_patch_embed: bool, attention: str
) -> None:
    """Loss, predictions and gradients of MAE-Lite's own model on the same weights, input and mask."""
    set_attention_impl(mae_tiny, attention)
    mae_tiny.visible_patch_embed = visible_patch_embed
    mae_tiny.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    images = torch.randn(2, 3, 224, 224)
    torch.manual_seed(2)
    noise = torch.rand(2, 196)
    loss, pred, mask = mae_tiny(images, 0.75, noise)
    loss.backward()
    mae_tiny.visible_patch_embed = True
    loss, pred = loss.detach(), pred.detach()
    assert float(loss) == pytest.approx(REFERENCE["loss"], rel=1e-5)
    assert float(loss) == pytest.approx(REFERENCE["loss_float64"], rel=1e-5)
    abs_sum = REFERENCE["pred_abs_sum"]
    assert float(pred.abs().sum()) == pytest.approx(abs_sum, rel=1e-5)
    assert float(pred.sum()) == pytest.approx(REFERENCE["pred_sum"], abs=1e-5 * abs_sum)
    torch.testing.assert_close(pred[0, 0, :4], torch.tensor(REFERENCE["pred_first"]), atol=1e-5, rtol=1e-5)
    assert float(mask.sum()) == REFERENCE["masked"]
    grads = {k: p.grad for k, p in to_reference_keys(dict(mae_tiny.named_parameters())).items()}
    for name, expected in REFERENCE["grad_abs_sums"].items():
        assert float(grads[name].abs().sum()) == pytest.approx(expected, rel=1e-4), name


def test_initialisation_is_deterministic_and_maes() -> None:
    torch.manual_seed(0)
    a = mae_test_vit()
    torch.manual_seed(0)
    b = mae_test_vit()
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    assert not a.encoder.pos_embed.requires_grad and not a.decoder_pos_embed.requires_grad
    assert torch.equal(a.encoder.pos_embed, sincos_pos_embed(32, 4))
    for linear in (a.decoder_embed, a.decoder_pred, a.encoder.blocks[0].mlp.fc1):
        bound = math.sqrt(6 / (linear.in_features + linear.out_features))  # xavier-uniform
        assert linear.weight.abs().max() <= bound and torch.count_nonzero(linear.bias) == 0
    proj = a.encoder.patch_embed.proj.weight  # xavier on the flattened [D, C*p*p] view
    assert proj.abs().max() <= math.sqrt(6 / (proj.shape[0] + proj[0].numel()))


def test_other_image_sizes() -> None:
    model = mae_vit_tiny_patch16(img_size=96)  # the demo's size: 36 patches, 9 visible
    assert model.encoder.pos_embed.shape == (1, 37, 192) and model.decoder_pos_embed.shape == (1, 37, 96)
    with torch.no_grad():
        loss, pred, mask = model(torch.randn(2, 3, 96, 96))
    assert pred.shape == (2, 36, 768) and mask.sum(1).tolist() == [27.0, 27.0] and torch.isfinite(loss)


def test_patchify_round_trip() -> None:
    model = mae_test_vit()
    images = torch.randn(2, 3, 32, 32)
    patches = model.patchify(images)
    assert patches.shape == (2, 16, 8 * 8 * 3)
    torch.testing.assert_close(patches[0, 1].reshape(8, 8, 3), images[0, :, :8, 8:16].permute(1, 2, 0))  # nhwpqc
    torch.testing.assert_close(model.unpatchify(patches), images)


def test_attention_logits_of_the_visible_tokens() -> None:
    model = mae_test_vit()
    with model.capture_attention(-1) as logits, torch.no_grad():
        model.forward_encoder(torch.randn(2, 3, 32, 32), 0.75)
    assert logits[3].shape == (2, 4, 5, 5)  # [N, heads, 1+K, 1+K]
    assert not model.encoder.blocks[3].attn.capture_logits


def test_attention_implementations_agree() -> None:
    model = mae_test_vit().eval()
    images, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        outputs = [set_attention_impl(model, impl)(images, 0.75, noise)[1] for impl in ("fused", "explicit")]
    torch.testing.assert_close(outputs[0], outputs[1])
    tiny = set_attention_impl(mae_vit_tiny_patch16(), "auto")  # fp32 CPU: explicit for 50 tokens, fused for 197
    assert not tiny.encoder.blocks[0].attn.fused_attn and tiny.decoder_blocks[0].attn.fused_attn
    set_attention_impl(tiny, "auto", precision="bf16-mixed")
    assert not tiny.decoder_blocks[0].attn.fused_attn
    set_attention_impl(tiny, "auto", device="cuda")
    assert all(block.attn.fused_attn for block in tiny.encoder.blocks)


def test_bf16_autocast_stays_close() -> None:
    torch.manual_seed(0)
    model = mae_test_vit()
    images, noise = torch.randn(4, 3, 32, 32), torch.rand(4, 16)
    with torch.no_grad():
        exact = model(images, 0.75, noise)[0]
        with precision_context("bf16-mixed"):
            fast = model(images, 0.75, noise)[0]
    assert fast.dtype == torch.float32
    assert float(fast) == pytest.approx(float(exact), rel=2e-2)
    assert optimizer_speed_kwargs(list(model.parameters())) == {"fused": True}


def test_weight_decay_and_layer_ids() -> None:
    model = mae_test_vit()
    names = dict(model.named_parameters())
    assert {"encoder.cls_token", "encoder.pos_embed", "mask_token", "decoder_pos_embed"} <= model.no_weight_decay()
    assert model.no_weight_decay() <= set(names) | {"encoder.reg_token", "encoder.dist_token"}
    ids = model.layer_ids()
    assert ids["encoder.cls_token"] == ids["encoder.patch_embed.proj.weight"] == ids["mask_token"] == 0
    assert ids["encoder.blocks.0.attn.qkv.weight"] == 1 and ids["encoder.blocks.3.mlp.fc2.bias"] == 4
    assert ids["encoder.norm.weight"] == 4  # with the last block, as timm groups a ViT's final norm
    assert ids["decoder_embed.weight"] == ids["decoder_pred.weight"] == 5


def test_factories_and_encoder_checks() -> None:
    assert set(MAE_MODELS) == {"mae_vit_tiny_patch16", "mae_vit_small_patch16", "mae_vit_base_patch16", "mae_test_vit"}
    assert create_mae("mae_test_vit", mask_ratio=0.5).num_visible() == 8
    with pytest.raises(KeyError, match="mae_vit_tiny_patch16"):
        create_mae("mae_vit_huge")
    import timm

    gap = timm.create_model("test_vislite_vit", num_classes=0)  # global pooling + fc_norm: no final norm
    with pytest.raises(ValueError, match="final norm"):
        MaskedAutoencoderViT(encoder=gap)


def test_loss_falls_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    model = mae_test_vit()
    images = torch.rand(8, 3, 32, 32).cumsum(dim=-1) / 32  # smooth ramps: predictable from the neighbours
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3, betas=(0.9, 0.95), **optimizer_speed_kwargs(params))
    losses = []
    for step in range(30):
        loss, _, _ = model(images, 0.75, torch.rand(8, 16, generator=torch.Generator().manual_seed(step)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
