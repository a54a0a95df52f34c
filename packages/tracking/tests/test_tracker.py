"""The inference tracker: preprocessing, Hann window, post-processing, and loading from checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vislite_common.checkpoint import CheckpointError
from vislite_tracking import load_tracker
from vislite_tracking.data.processing import clip_box, crop_box_to_frame, sample_target
from vislite_tracking.ostrack.model import decode_boxes
from vislite_tracking.ostrack.tracker import OSTracker, hann2d, preprocess


def _frames(count: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = []
    for t in range(count):
        image = (rng.random((120, 160, 3)) * 60).astype(np.uint8)
        image[40 + t : 70 + t, 50 + 2 * t : 80 + 2 * t] = (220, 40, 40)
        frames.append(image)
    return frames


def test_hann_window_formula() -> None:
    window = hann2d(16)[0, 0]
    k = torch.arange(1, 17, dtype=torch.float32)
    w = 0.5 * (1 - torch.cos(2 * math.pi * k / 17))
    torch.testing.assert_close(window, torch.outer(w, w))
    assert window.shape == (16, 16) and window.max() < 1
    torch.testing.assert_close(window, window.flip(0).flip(1))


def test_preprocess_normalises_like_the_reference() -> None:
    patch = np.array([[[0, 128, 255]]], dtype=np.uint8)
    out = preprocess(patch)
    expected = (torch.tensor([0, 128, 255]) / 255.0 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor(
        [0.229, 0.224, 0.225]
    )
    assert out.shape == (1, 3, 1, 1)
    torch.testing.assert_close(out.flatten(), expected)


def _reference_track(network, template: torch.Tensor, image: np.ndarray, state: np.ndarray) -> np.ndarray:
    """One frame the way the reference tracker computes it: full head maps, window, decode, map back, clip."""
    size = network.search_size
    crop = sample_target(image, state, 4.0, size)
    with torch.no_grad():
        out = network(template, preprocess(crop.image))
    box = decode_boxes(out["score_map"] * hann2d(network.feat_size), out["size_map"], out["offset_map"])
    frame_box = crop_box_to_frame(box[0].double().numpy() * size, state, crop.resize_factor, size)
    return clip_box(frame_box, image.shape[0], image.shape[1], 10)


def test_tracker_matches_the_reference_computation(make_network) -> None:
    network = make_network()
    tracker = OSTracker(network=network)
    frames = _frames()
    box = np.array([50.0, 40.0, 30.0, 30.0])
    tracker.initialize(frames[0], box)
    template = preprocess(sample_target(frames[0], box, 2.0, network.template_size).image)
    state = box
    for frame in frames[1:]:
        expected = _reference_track(network, template, frame, state)
        state = tracker.track(frame)
        np.testing.assert_allclose(state, expected, rtol=1e-5, atol=1e-4)
        assert state[0] >= 0 and state[1] >= 0 and state[0] + state[2] <= 160 and state[1] + state[3] <= 120
        assert state[2] >= 10 and state[3] >= 10


def test_tracker_needs_initialize_and_a_valid_box(make_network) -> None:
    tracker = OSTracker(network=make_network())
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.track(_frames(1)[0])
    with pytest.raises(ValueError, match="w, h > 0"):
        tracker.initialize(_frames(1)[0], [10, 10, 0, 5])


def _track_all(tracker, frames: list[np.ndarray]) -> np.ndarray:
    tracker.initialize(frames[0], [50.0, 40.0, 30.0, 30.0])
    return np.stack([tracker.track(f) for f in frames[1:]])


def test_load_tracker_round_trip_from_a_training_checkpoint(tmp_path: Path, make_network) -> None:
    network = make_network(seed=7)
    path = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in network.state_dict().items()}
    torch.save({"state_dict": state, "ostrack": network.build_args, "epoch": 3}, path)
    loaded = load_tracker(path)
    np.testing.assert_allclose(_track_all(loaded, _frames()), _track_all(OSTracker(network=network), _frames()))


def _released_key(key: str) -> str:
    """The inverse of the key map: our head names back to OSTrack's ``conv{n}_{branch}``."""
    parts = key.split(".")
    if parts[0] == "box_head":
        branch, layer, rest = parts[1], int(parts[2]), parts[3:]
        return ".".join(["box_head", f"conv{layer + 1}_{branch}", *rest])
    return key


def test_released_ostrack_checkpoint_tracks_identically(tmp_path: Path) -> None:
    from vislite_tracking.ostrack.model import build_ostrack

    torch.manual_seed(0)
    network = build_ostrack(drop_path_rate=0.0).eval()
    released = {_released_key(k): v for k, v in network.state_dict().items()}
    released["backbone.cls_token"] = torch.zeros(1, 1, 192)
    released["backbone.pos_embed"] = torch.zeros(1, 197, 192)
    assert "box_head.conv5_ctr.weight" in released and "box_head.conv1_size.1.running_mean" in released
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": released, "epoch": 300}, path)
    loaded = load_tracker(path)
    assert loaded.network.build_args["backbone"] == "vislite_vit_tiny"
    frames = [np.ascontiguousarray(np.kron(f, np.ones((2, 2, 1), dtype=np.uint8))) for f in _frames(3)]
    tracker = OSTracker(network=network)
    tracker.initialize(frames[0], [100.0, 80.0, 60.0, 60.0])
    loaded.initialize(frames[0], [100.0, 80.0, 60.0, 60.0])
    for frame in frames[1:]:
        np.testing.assert_allclose(loaded.track(frame), tracker.track(frame))


def test_weights_without_build_arguments_are_refused(tmp_path: Path, make_network) -> None:
    path = tmp_path / "weights.pth"
    torch.save(make_network().state_dict(), path)
    with pytest.raises(CheckpointError, match="build arguments"):
        load_tracker(path)
    tracker = load_tracker(
        path,
        backbone="test_vislite_vit",
        template_size=32,
        search_size=64,
        ce_loc=[1, 2],
        ce_keep_ratio=[0.7, 0.7],
        head_channels=32,
        backbone_kwargs={},
    )
    assert tracker.network.search_size == 64


def test_backbone_from_a_mae_lite_checkpoint(tmp_path: Path) -> None:
    import timm

    from vislite_tracking.ostrack.model import build_ostrack

    torch.manual_seed(1)
    encoder = timm.create_model("test_vislite_vit", num_classes=0, global_pool="avg", fc_norm=False)
    released = {f"model.{k}": v for k, v in encoder.state_dict().items()}
    released["model.decoder_embed.weight"] = torch.zeros(16, 32)  # decoder entries are ignored
    released["model.mask_token"] = torch.zeros(1, 1, 16)
    path = tmp_path / "mae_lite.pth.tar"
    torch.save({"model": released, "epoch": 400}, path)
    small = dict(backbone="test_vislite_vit", template_size=32, search_size=64, ce_loc=(1,), ce_keep_ratio=(0.7,))
    net = build_ostrack(**small, pretrained=path)
    torch.testing.assert_close(net.backbone.blocks[2].mlp.fc1.weight, encoder.blocks[2].mlp.fc1.weight)
    torch.testing.assert_close(net.backbone.norm.weight, encoder.norm.weight)
    table = encoder.pos_embed[:, 1:].transpose(1, 2).reshape(1, 32, 4, 4)  # 4x4 grid of the 32 px test ViT
    torch.testing.assert_close(net.backbone.pos_embed_z, table.flatten(2).transpose(1, 2))
    del released["model.blocks.1.attn.qkv.weight"]
    torch.save({"model": released}, path)
    with pytest.raises(CheckpointError, match="blocks.1.attn.qkv.weight"):
        build_ostrack(**small, pretrained=path)


def test_backbone_from_a_vislite_pretraining_checkpoint(tmp_path: Path) -> None:
    import timm

    from vislite_tracking.ostrack.model import build_ostrack

    encoder = timm.create_model("test_vislite_vit", num_classes=0, global_pool="avg", fc_norm=False)
    state = {f"model.encoder.{k}": v for k, v in encoder.state_dict().items()}  # MAE LightningModule layout
    state["model.decoder_pred.weight"] = torch.zeros(192, 16)
    state["model.encoder.blocks.4.norm1.weight"] = torch.ones(32)  # a D²-MAE probe block beyond the depth
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": state, "epoch": 1}, path)
    net = build_ostrack(
        backbone="test_vislite_vit",
        template_size=32,
        search_size=64,
        ce_loc=(1,),
        ce_keep_ratio=(0.7,),
        pretrained=path,
    )
    torch.testing.assert_close(net.backbone.blocks[3].attn.proj.weight, encoder.blocks[3].attn.proj.weight)


def test_fold_conv_bn_equals_conv_then_batch_norm(randomise_batch_norms) -> None:
    from vislite_tracking.ostrack.tracker.folded_head import fold_conv_bn

    torch.manual_seed(0)
    conv, bn = torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.BatchNorm2d(6)
    randomise_batch_norms(bn)
    bn.eval()
    x = torch.randn(2, 4, 5, 5)
    weight, bias = fold_conv_bn(conv, bn)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, weight, bias, padding=1), bn(conv(x)))
    bn.running_var.fill_(0.0)
    weight, _ = fold_conv_bn(conv, bn)
    assert torch.isfinite(weight).all()  # eps keeps the scale finite


def test_folded_head_equals_the_full_maps_at_every_cell(randomise_batch_norms) -> None:
    from vislite_tracking.ostrack.model.head import CenterHead
    from vislite_tracking.ostrack.tracker.folded_head import FoldedCenterHead

    torch.manual_seed(0)
    head = CenterHead(in_channels=16, channels=32)
    randomise_batch_norms(head)
    with pytest.raises(ValueError, match="eval mode"):
        FoldedCenterHead(head=head)
    head.eval()
    folded = FoldedCenterHead(head=head)
    assert folded.halo == 4
    features = torch.randn(2, 16, 8, 8)  # a map smaller than the 9x9 receptive field: padding on both sides
    with torch.inference_mode():
        full = head(features)
        torch.testing.assert_close(folded.score(features), full["score_map"], rtol=1e-5, atol=1e-6)
        for iy in range(8):
            for ix in range(8):  # corners, borders and interior
                got = folded._at_cell(features[1:], iy, ix)
                expected = torch.cat([full["offset_map"][1, :, iy, ix], full["size_map"][1, :, iy, ix]])
                torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        window = hann2d(8)
        boxes, score = folded.predict(features, window)
        expected_boxes, _ = head.predict(features, window)
    torch.testing.assert_close(boxes, expected_boxes, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(score, full["score_map"], rtol=1e-5, atol=1e-6)


def test_search_only_last_block_equals_the_full_block(make_network) -> None:
    network = make_network()
    torch.manual_seed(1)
    template, search = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64)
    backbone = network.backbone
    assert not backbone.blocks[-1].eliminates
    with torch.inference_mode():
        z = backbone.embed_template(template)
        full = backbone.forward_tokens(z, search)
        tail = backbone.forward_tokens(z, search, search_only_tail=True)
    torch.testing.assert_close(tail, full, rtol=1e-5, atol=1e-5)
    assert bool((full.abs().sum(-1) == 0).any())  # eliminated positions are zero in both


def test_fast_tracker_gives_the_module_paths_boxes(make_network, randomise_batch_norms) -> None:
    network = make_network(seed=3)
    randomise_batch_norms(network.box_head, seed=3)
    frames = [np.ascontiguousarray(np.kron(f, np.ones((2, 2, 1), dtype=np.uint8))) for f in _frames(5)]
    fast, plain = OSTracker(network=network), OSTracker(network=network, fast=False)
    assert fast.fast and not plain.fast
    boxes = []
    for tracker in (fast, plain):
        tracker.initialize(frames[0], [100.0, 80.0, 60.0, 60.0])
        boxes.append(np.stack([tracker.track(f) for f in frames[1:]]))
    np.testing.assert_allclose(boxes[0], boxes[1], rtol=0, atol=1e-4)
    assert len({tuple(b) for b in boxes[0].round(3)}) > 1  # the boxes move: a real comparison
    assert network.box_head.ctr[0][1].training is False  # folding left the network's modules untouched
