"""Relative position bias ViT-Tiny (MAE-Lite ``vit_tiny_patch16_rpe``): sizes, key layout, checkpoint parity."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F

from vislite_common.backbones import create_backbone
from vislite_common.backbones.rel_pos import relative_position_index, resize_relative_position_table

DIM, DEPTH, HEADS, MLP, PATCH, GRID, CLASSES = 192, 12, 12, 768, 16, 14, 1000


def reference_parameter_count(qv_bias: bool) -> int:
    """The official definition's arithmetic: patch embed, cls, pos, 12 blocks, fc_norm, head."""
    rows = (2 * GRID - 1) ** 2 + 3  # 732
    attn_bias = 2 * DIM if qv_bias else 3 * DIM
    block = 2 * DIM + 3 * DIM * DIM + attn_bias + rows * HEADS + DIM * DIM + DIM + 2 * DIM + DIM * MLP + MLP
    block += MLP * DIM + DIM
    stem = 3 * PATCH * PATCH * DIM + DIM + DIM + (GRID * GRID + 1) * DIM
    return stem + DEPTH * block + 2 * DIM + DIM * CLASSES + CLASSES


def reference_keys(qv_bias: bool) -> set[str]:
    """State-dict keys of the official model (``norm`` is an Identity with mean pooling)."""
    keys = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
    keys |= {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}
    for i in range(DEPTH):
        b = f"blocks.{i}."
        keys |= {f"{b}norm1.weight", f"{b}norm1.bias", f"{b}norm2.weight", f"{b}norm2.bias"}
        keys |= {f"{b}attn.qkv.weight", f"{b}attn.proj.weight", f"{b}attn.proj.bias"}
        keys |= {f"{b}attn.q_bias", f"{b}attn.v_bias"} if qv_bias else {f"{b}attn.qkv.bias"}
        keys |= {f"{b}attn.relative_position_bias_table", f"{b}attn.relative_position_index"}
        keys |= {f"{b}mlp.fc1.weight", f"{b}mlp.fc1.bias", f"{b}mlp.fc2.weight", f"{b}mlp.fc2.bias"}
    return keys


def beit_index(side: int) -> torch.Tensor:
    """BEiT's relative position index, written out with loops over (query, key) pairs."""
    rows = (2 * side - 1) ** 2 + 3
    n = side * side + 1
    index = torch.empty(n, n, dtype=torch.int64)
    for i in range(n):
        for j in range(n):
            if i == 0 and j == 0:
                index[i, j] = rows - 1
            elif j == 0:
                index[i, j] = rows - 2
            elif i == 0:
                index[i, j] = rows - 3
            else:
                (yi, xi), (yj, xj) = divmod(i - 1, side), divmod(j - 1, side)
                index[i, j] = (yi - yj + side - 1) * (2 * side - 1) + (xi - xj + side - 1)
    return index


def random_official_state(qv_bias: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official layout (non-zero tables and biases, int64 index buffers)."""
    g = torch.Generator().manual_seed(seed)
    rows = (2 * GRID - 1) ** 2 + 3

    def rnd(*shape: int, std: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    state = {
        "cls_token": rnd(1, 1, DIM, std=0.5),
        "pos_embed": rnd(1, GRID * GRID + 1, DIM, std=0.5),
        "patch_embed.proj.weight": rnd(DIM, 3, PATCH, PATCH),
        "patch_embed.proj.bias": rnd(DIM),
        "fc_norm.weight": 1 + rnd(DIM),
        "fc_norm.bias": rnd(DIM),
        "head.weight": rnd(CLASSES, DIM),
        "head.bias": rnd(CLASSES),
    }
    index = beit_index(GRID)
    for i in range(DEPTH):
        b = f"blocks.{i}."
        state.update(
            {
                f"{b}norm1.weight": 1 + rnd(DIM),
                f"{b}norm1.bias": rnd(DIM),
                f"{b}attn.qkv.weight": rnd(3 * DIM, DIM, std=0.1),
                f"{b}attn.relative_position_bias_table": rnd(rows, HEADS, std=1.0),
                f"{b}attn.relative_position_index": index.clone(),
                f"{b}attn.proj.weight": rnd(DIM, DIM),
                f"{b}attn.proj.bias": rnd(DIM),
                f"{b}norm2.weight": 1 + rnd(DIM),
                f"{b}norm2.bias": rnd(DIM),
                f"{b}mlp.fc1.weight": rnd(MLP, DIM),
                f"{b}mlp.fc1.bias": rnd(MLP),
                f"{b}mlp.fc2.weight": rnd(DIM, MLP),
                f"{b}mlp.fc2.bias": rnd(DIM),
            }
        )
        if qv_bias:
            state[f"{b}attn.q_bias"], state[f"{b}attn.v_bias"] = rnd(DIM, std=0.2), rnd(DIM, std=0.2)
        else:
            state[f"{b}attn.qkv.bias"] = rnd(3 * DIM, std=0.2)
    return state


def reference_forward(state: dict[str, torch.Tensor], images: torch.Tensor, qv_bias: bool) -> torch.Tensor:
    """The official RPE ViT forward, step by step from the weights (BEiT attention, mean pooling + fc_norm)."""
    x = F.conv2d(images, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)  # [B, 196, D]
    x = torch.cat([state["cls_token"].expand(x.shape[0], -1, -1), x], dim=1) + state["pos_embed"]
    batch, tokens, _ = x.shape
    head_dim = DIM // HEADS
    for i in range(DEPTH):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (DIM,), state[f"{b}norm1.weight"], state[f"{b}norm1.bias"], eps=1e-6)
        if qv_bias:
            bias = torch.cat([state[f"{b}attn.q_bias"], torch.zeros(DIM), state[f"{b}attn.v_bias"]])
        else:
            bias = state[f"{b}attn.qkv.bias"]
        qkv = F.linear(h, state[f"{b}attn.qkv.weight"], bias).reshape(batch, tokens, 3, HEADS, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * head_dim**-0.5) @ k.transpose(-2, -1)
        table = state[f"{b}attn.relative_position_bias_table"]
        rel = table[state[f"{b}attn.relative_position_index"].view(-1)].view(tokens, tokens, HEADS)
        attn = (attn + rel.permute(2, 0, 1).unsqueeze(0)).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(batch, tokens, DIM)
        x = x + F.linear(out, state[f"{b}attn.proj.weight"], state[f"{b}attn.proj.bias"])
        h = F.layer_norm(x, (DIM,), state[f"{b}norm2.weight"], state[f"{b}norm2.bias"], eps=1e-6)
        h = F.linear(
            F.gelu(F.linear(h, state[f"{b}mlp.fc1.weight"], state[f"{b}mlp.fc1.bias"])), state[f"{b}mlp.fc2.weight"]
        )
        x = x + h + state[f"{b}mlp.fc2.bias"]
    pooled = F.layer_norm(x[:, 1:].mean(1), (DIM,), state["fc_norm.weight"], state["fc_norm.bias"], eps=1e-6)
    return F.linear(pooled, state["head.weight"], state["head.bias"])


@pytest.mark.parametrize("qv_bias", [True, False])
def test_parameter_count_and_key_layout(qv_bias: bool) -> None:
    model = timm.create_model("vislite_vit_tiny", rel_pos_bias=True, qv_bias=qv_bias, num_classes=CLASSES)
    count = sum(p.numel() for p in model.parameters())
    assert count == reference_parameter_count(qv_bias) == (5_820_520 if qv_bias else 5_822_824)
    state = model.state_dict()
    assert set(state) == reference_keys(qv_bias)
    assert state["blocks.0.attn.relative_position_bias_table"].shape == (732, 12)
    assert torch.count_nonzero(state["blocks.5.attn.relative_position_bias_table"]) == 0  # zero-initialised
    assert state["blocks.0.attn.relative_position_index"].dtype == torch.int64
    assert not hasattr(model.blocks[0], "gamma_1") and isinstance(model.blocks[0].ls1, torch.nn.Identity)
    assert isinstance(model.norm, torch.nn.Identity)


def test_index_matches_beit_layout_and_sub_grids() -> None:
    assert torch.equal(relative_position_index((GRID, GRID)), beit_index(GRID))
    assert torch.equal(relative_position_index((3, 3)), beit_index(3))
    # a 2x2 grid inside a 3x3 window reads the window's rows of its own offsets
    small = relative_position_index((2, 2), (3, 3))
    full = beit_index(3)
    keep = [0, 1, 2, 4, 5]  # class token and the top-left 2x2 patches of the 3x3 grid
    assert torch.equal(small, full[keep][:, keep])


@pytest.mark.parametrize("qv_bias", [True, False])
def test_official_checkpoint_logits_parity(tmp_path: Path, qv_bias: bool) -> None:
    torch.manual_seed(0)
    state = random_official_state(qv_bias)
    path = tmp_path / "ft_impr_rpe.pth.tar"
    torch.save({"model": {f"module.model.{k}": v for k, v in state.items()}, "start_epoch": 1000}, path)
    model = create_backbone(
        "vislite_vit_tiny", pretrained=path, rel_pos_bias=True, qv_bias=qv_bias, num_classes=CLASSES
    ).eval()
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, reference = model(images), reference_forward(state, images, qv_bias)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-5), (ours - reference).abs().max()
    # the bias matters: the same weights with zero tables give other logits
    flat = {k: (torch.zeros_like(v) if k.endswith("bias_table") else v) for k, v in state.items()}
    assert not torch.allclose(reference_forward(flat, images, qv_bias), reference, atol=1e-3)


def test_default_is_qv_bias_and_qv_checkpoint_loads_into_plain_qkv_bias(tmp_path: Path) -> None:
    state = random_official_state(qv_bias=True, seed=3)
    path = tmp_path / "rpe.pth"
    torch.save({"model": {f"module.model.{k}": v for k, v in state.items()}}, path)
    images = torch.randn(1, 3, 224, 224)
    default = create_backbone("vislite_vit_tiny", pretrained=path, rel_pos_bias=True, num_classes=CLASSES).eval()
    plain = create_backbone(
        "vislite_vit_tiny", pretrained=path, rel_pos_bias=True, qv_bias=False, num_classes=CLASSES
    ).eval()
    assert default.blocks[0].attn.q_bias is not None and plain.blocks[0].attn.q_bias is None
    with torch.no_grad():
        assert torch.allclose(default(images), plain(images), atol=1e-5)


def test_capture_and_dynamic_grid() -> None:
    model = timm.create_model("test_vislite_vit", rel_pos_bias=True, num_classes=3, dynamic_img_size=True).eval()
    table = model.blocks[0].attn.relative_position_bias_table
    assert table.shape == ((2 * 4 - 1) ** 2 + 3, 4)
    with torch.no_grad():
        table.normal_()
        with model.capture_attention(0) as logits:
            model(torch.randn(1, 3, 32, 32))
        assert logits[0].shape == (1, 4, 17, 17)
        assert model(torch.randn(1, 3, 16, 24)).shape == (1, 3)  # a 2x3 grid inside the 4x4 window
        with pytest.raises(ValueError, match="does not fit"):
            model(torch.randn(1, 3, 40, 40))


def test_table_resize_keeps_class_rows_and_centre() -> None:
    table = torch.randn((2 * 14 - 1) ** 2 + 3, 2)
    resized = resize_relative_position_table(table, (32, 32))
    assert resized.shape == ((2 * 32 - 1) ** 2 + 3, 2)
    assert torch.equal(resized[-3:], table[-3:])
    centre_old, centre_new = 13 * 27 + 13, 31 * 63 + 31  # offset (0, 0)
    assert torch.allclose(resized[centre_new], table[centre_old], atol=1e-5)  # interpolating spline
    assert math.isclose(float(resize_relative_position_table(table, (14, 14)).sum()), float(table.sum()))
