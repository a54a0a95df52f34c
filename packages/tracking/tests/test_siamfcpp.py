"""SiamFC++: backbone / head geometry, video_analyst checkpoint key map and its errors, training pairs, the
tracker's post-processing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vislite_tracking.data import load_sequences
from vislite_tracking.siamfcpp.data import SiamFCppPairs
from vislite_tracking.siamfcpp.load import load_siamfcpp
from vislite_tracking.siamfcpp.model import build_siamfcpp, map_video_analyst_keys
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return build_siamfcpp("test_tiny", head_width=16, tiny_width=8, z_size=63, x_size=127).eval()


@torch.no_grad()
def test_alexnet_and_shufflenet_score_maps_are_17_for_127_303() -> None:
    z, x = torch.full((1, 3, 127, 127), 100.0), torch.full((1, 3, 303, 303), 100.0)
    for name in ("alexnet", "shufflenetv2_x0_5"):
        out = build_siamfcpp(name).eval()(z, x)
        assert out["cls_pred"].shape == (1, 289, 1) and out["box_pred"].shape == (1, 289, 4), name


@torch.no_grad()
def test_googlenet_geometry_and_box_decoding() -> None:
    net = build_siamfcpp("googlenet").eval()
    assert net.head.num_conv3x3 == 2 and net.head.cls_p5_conv1.bn is None
    # 191 px search: Inception trunk 44 -> Mixed_6a 21 -> crop 4 -> 13; template 5; adjust 11 / 3; corr 9; head 5
    out = net(torch.zeros(1, 3, 127, 127), torch.zeros(1, 3, 191, 191))
    assert out["cls_pred"].shape == (1, 25, 1)
    # boxes surround their location: offset (191 - 1 - 4 * 8) // 2 = 79; location 0 at pixel (79, 79)
    box = out["box_pred"][0, 0]
    assert box[0] < 79 < box[2] and box[1] < 79 < box[3]


def video_analyst_file(net, path: Path, shuffle: bool = False) -> Path:
    state = {}
    for key, value in net.state_dict().items():
        state[("basemodel." + key[len("backbone.") :]) if key.startswith("backbone.") else key] = value.clone()
    state["loss.cls.t_one"] = torch.tensor(1.0)
    torch.save({"model_state_dict": state}, path)
    return path


def test_video_analyst_checkpoint_loads_through_the_key_map(tmp_path: Path) -> None:
    source = build_siamfcpp("shufflenetv2_x0_5")
    for p in source.parameters():
        p.data.normal_()
    path = video_analyst_file(source, tmp_path / "siamfcpp-shufflenetv2x0_5-got.pkl")
    raw = torch.load(path, weights_only=True)["model_state_dict"]
    assert "basemodel._model.conv1.0.weight" in raw
    mapped = map_video_analyst_keys(raw)
    assert "backbone._model.conv1.0.weight" in mapped and "loss.cls.t_one" not in mapped
    loaded = load_siamfcpp(path, backbone="shufflenetv2_x0_5")
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not loaded.training


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    path = video_analyst_file(build_siamfcpp("alexnet"), tmp_path / "alexnet.pkl")
    with pytest.raises(ValueError, match="alexnet.pkl.*does not match"):
        load_siamfcpp(path, backbone="shufflenetv2_x0_5")
    with pytest.raises(ValueError, match="backbone="):
        load_siamfcpp(path)
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        load_siamfcpp(tmp_path / "missing.pkl", backbone="alexnet")


def test_training_pairs_put_the_target_at_the_crop_centre_without_jitter(world: Path) -> None:
    seqs = load_sequences("got10k", world / "got10k", "train")
    pairs = SiamFCppPairs(sources=[seqs], samples_per_epoch=4, z_size=63, x_size=127, max_scale=0.0, max_shift=0.0)
    item = pairs[0]
    assert item["im_z"].shape == (3, 63, 63) and item["im_x"].shape == (3, 127, 127)
    assert item["im_x"].max() > 1.0  # raw 0-255
    x0, y0, x1, y1 = item["box_x"].tolist()
    assert (x0 + x1) / 2 == pytest.approx(63.0) and (y0 + y1) / 2 == pytest.approx(63.0)
    jittered = SiamFCppPairs(sources=[seqs], samples_per_epoch=8, z_size=63, x_size=127)
    centres = [jittered[i]["box_x"].view(2, 2).mean(0) for i in range(8)]
    assert max(float((c - 63).abs().max()) for c in centres) > 1.0


def test_tracker_postprocessing_picks_the_windowed_best_and_damps_the_size() -> None:
    tracker = SiamFCppTracker(tiny())
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    tracker.initialize(image, (50, 40, 20, 20))
    side = 7
    score = np.zeros(side * side)
    score[3 * side + 4] = 0.9  # one location right of the centre
    boxes = np.tile(np.array([[54.0, 54.0, 73.0, 73.0]]), (side * side, 1))  # 20 x 20 (+1 convention) at (63.5, 63.5)
    scale = 1.5
    pos, size = tracker.postprocess(score, boxes, np.array([59.5, 49.5]), np.array([20.0, 20.0]), scale)
    assert tracker.state["last"]["best"] == 3 * side + 4
    # penalty: the box is 20 px in the crop vs 30 px expected -> scale change 1.5, exp(-(1.5 - 1) * 0.04)
    penalty = np.exp(-(1.5 - 1) * 0.04)
    lr = penalty * 0.9 * 0.52
    assert size[0] == pytest.approx(20 * (1 - lr) + (20 / np.float32(1.5)) * lr)
    assert pos[0] == pytest.approx(63.5 / np.float32(1.5) + 59.5 - 63 / 1.5)
    box = tracker.track(image)
    assert np.isfinite(box).all() and box[2] >= 10 and box[3] >= 10
