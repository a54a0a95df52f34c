"""The one-stream ViT with candidate elimination and the centre head."""

from __future__ import annotations

import math

import pytest
import torch

from vislite_tracking.ostrack.model import build_ostrack
from vislite_tracking.ostrack.model.elimination import template_centre_mask
from vislite_tracking.ostrack.model.head import decode_boxes
from vislite_tracking.ostrack.model.pos_embed import patch_table, resize_table

VIT_TINY_NO_HEAD = 5_524_416  # vislite_vit_tiny without classifier (vislite_common docs)


def test_position_tables_resized_from_the_14x14_table() -> None:
    net = build_ostrack()
    assert net.backbone.pos_embed_z.shape == (1, 64, 192)  # 8 x 8 template grid
    assert net.backbone.pos_embed_x.shape == (1, 256, 192)  # 16 x 16 search grid
    table = torch.arange(1 + 196, dtype=torch.float32).view(1, -1, 1).expand(1, 197, 3)
    grid = patch_table(table, num_prefix_tokens=1)
    assert grid.shape == (1, 3, 14, 14) and grid[0, 0, 0, 0] == 1  # class token dropped
    assert resize_table(grid, 14).equal(table[:, 1:])  # same size: unchanged
    assert resize_table(grid, 8).shape == (1, 64, 3)
    with pytest.raises(ValueError, match="square"):
        patch_table(table[:, :100], num_prefix_tokens=1)


def test_parameter_count_of_the_vit_tiny_tracker() -> None:
    net = build_ostrack()
    backbone = sum(p.numel() for p in net.backbone.parameters())
    # the ViT-Tiny less its 197-token table and cls token, plus 64 + 256 template / search positions
    assert backbone == VIT_TINY_NO_HEAD - 197 * 192 - 192 + (64 + 256) * 192
    widths = [192, 256, 128, 64, 32]
    convs = sum(9 * a * b + b + 2 * b for a, b in zip(widths[:-1], widths[1:]))  # conv + bias + BN affine
    head = sum(convs + 32 * out + out for out in (1, 2, 2))
    assert sum(p.numel() for p in net.box_head.parameters()) == head
    assert len(net.backbone.blocks) == 12 and net.backbone.blocks[0].attn.num_heads == 12
    assert [i for i, b in enumerate(net.backbone.blocks) if b.eliminates] == [3, 6, 9]


def test_forward_shapes_and_box_range(make_network) -> None:
    net = make_network()
    out = net(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64))
    assert out["score_map"].shape == (2, 1, 8, 8) and out["size_map"].shape == (2, 2, 8, 8)
    assert out["offset_map"].shape == (2, 2, 8, 8) and out["boxes"].shape == (2, 4)
    assert out["score_map"].min() >= 1e-4 and out["score_map"].max() <= 1 - 1e-4


def _reference_ranking(block, x: torch.Tensor, num_template: int, centre: int) -> torch.Tensor:
    """Search positions sorted by the attention the template centre gives them, from the full attention matrix."""
    attn = block.attn
    b, n, _ = x.shape
    qkv = attn.qkv(block.norm1(x)).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, _ = qkv.unbind(0)
    probs = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1)  # [B, H, N, N]
    scores = probs[:, :, centre, num_template:].mean(1)  # [B, Ls]
    return scores.sort(dim=1, descending=True).indices


def test_candidate_elimination_keeps_the_most_attended_tokens(make_network) -> None:
    net = make_network()
    block = net.backbone.blocks[1]
    x = torch.randn(2, 16 + 64, 32)
    mask = template_centre_mask(2, 4)
    index = torch.arange(64).expand(2, 64) + 100  # arbitrary global ids
    with torch.no_grad():
        out, kept, removed = block(x, 16, index, mask)
        order = _reference_ranking(block, x, 16, centre=(4 - 1) // 2 * 4 + (4 - 1) // 2)
    keep = math.ceil(0.7 * 64)
    assert kept.shape == (2, keep) and removed.shape == (2, 64 - keep) and out.shape == (2, 16 + keep, 32)
    assert kept.equal(order[:, :keep] + 100) and removed.equal(order[:, keep:] + 100)


def test_keep_rate_one_equals_the_model_without_elimination(make_network) -> None:
    pruned = make_network(seed=3)
    plain = build_ostrack(
        **{
            **dict(backbone="test_vislite_vit", template_size=32, search_size=64, head_channels=32, drop_path_rate=0.0),
            "ce_loc": (),
            "ce_keep_ratio": (),
        }
    ).eval()
    plain.load_state_dict(pruned.state_dict())
    z, x = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = pruned(z, x, keep_rate=1.0), plain(z, x)
        c = pruned(z, x)  # ratio 0.7: different
    for key in ("score_map", "size_map", "offset_map", "boxes"):
        torch.testing.assert_close(a[key], b[key])
    assert not torch.allclose(c["score_map"], b["score_map"])


def test_eliminated_search_tokens_are_zero_in_original_order(make_network) -> None:
    net = make_network()
    with torch.no_grad():
        tokens = net.backbone(torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64))
    zero_rows = (tokens[0].abs().sum(-1) == 0).sum().item()
    kept = math.ceil(0.7 * math.ceil(0.7 * 64))
    assert tokens.shape == (1, 64, 32) and zero_rows == 64 - kept


def test_unpruned_block_matches_timm_block(make_network) -> None:
    import timm

    vit = timm.create_model("test_vislite_vit", num_classes=0).eval()
    net = make_network()
    block = net.backbone.blocks[0]
    timm_block = vit.blocks[0]
    timm_block.load_state_dict(block.state_dict())
    x = torch.randn(2, 80, 32)
    with torch.no_grad():
        out, _, removed = block(x, 16, torch.arange(64).expand(2, 64), None)
        torch.testing.assert_close(out, timm_block(x))
    assert removed is None


def test_decode_boxes_at_the_best_cell() -> None:
    score = torch.zeros(1, 1, 4, 4)
    score[0, 0, 2, 1] = 1.0  # row 2, column 1
    size = torch.full((1, 2, 4, 4), 0.5)
    offset = torch.zeros(1, 2, 4, 4)
    offset[0, :, 2, 1] = torch.tensor([0.25, 0.5])
    box = decode_boxes(score, size, offset)
    torch.testing.assert_close(box, torch.tensor([[(1 + 0.25) / 4, (2 + 0.5) / 4, 0.5, 0.5]]))


def test_head_predict_equals_full_maps(make_network) -> None:
    net = make_network()
    window = torch.rand(1, 1, 8, 8)
    features = torch.randn(3, 32, 8, 8)
    with torch.no_grad():
        full = net.box_head(features)
        expected = decode_boxes(full["score_map"] * window, full["size_map"], full["offset_map"])
        boxes, score = net.box_head.predict(features, window)
    torch.testing.assert_close(boxes, expected)
    torch.testing.assert_close(score, full["score_map"])
