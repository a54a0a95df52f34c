"""The ONNX Runtime backend: the exported graph, boxes equal to the PyTorch tracker's, loading, missing packages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vislite_common.data.world import make_lasot
from vislite_tracking import load_tracker
from vislite_tracking.data import Sequence, load_sequences, read_frame
from vislite_tracking.ostrack.model import blocks
from vislite_tracking.ostrack.tracker import OnnxTracker, OSTracker, export_onnx

INSTALL = r"pip install 'vislite-tracking\[onnx\]'"


@pytest.fixture(scope="module")
def sequence(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames and true boxes of one embedded-world LaSOT sequence (160x120, 10 frames)."""
    root = make_lasot(tmp_path_factory.mktemp("lasot"), num_sequences=1, num_frames=10, frame_size=(160, 120))
    seq: Sequence = load_sequences("lasot", root)[0]
    return [read_frame(p) for p in seq.frames], seq.boxes


def _network(make_network, randomise_batch_norms) -> torch.nn.Module:
    """A tiny network whose candidate elimination ranks search tokens by clearly different scores.

    Freshly initialised, the test ViT attends almost uniformly: scores at the keep boundary can lie within float
    rounding of each other, and then which tokens survive depends on the backend's rounding. Sharper attention
    (query / key / value weights x5) and non-trivial head BatchNorms make a meaningful comparison.
    """
    network = make_network(seed=2)
    with torch.no_grad():
        for block in network.backbone.blocks:
            block.attn.qkv.weight.mul_(5.0)
    randomise_batch_norms(network.box_head, seed=3)
    return network


def _track_all(tracker, frames: list[np.ndarray], first_box: np.ndarray) -> np.ndarray:
    tracker.initialize(frames[0], first_box)
    return np.stack([tracker.track(frame) for frame in frames[1:]])


def test_export_writes_the_maps_graph_and_keeps_modes(tmp_path: Path, make_network) -> None:
    onnx = pytest.importorskip("onnx")
    network = make_network()
    network.backbone.train()  # a module in training mode stays so; the graph is traced in eval mode
    path = export_onnx(network, tmp_path / "sub" / "net.onnx")
    assert network.backbone.training and not network.box_head.training and not network.training
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    shapes = {
        value.name: [d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in [*graph.graph.input, *graph.graph.output]
    }
    assert shapes == {"z": [1, 3, 32, 32], "x": [1, 3, 64, 64], "score": [1, 1, 8, 8], "size": [1, 2, 8, 8],
                      "offset": [1, 2, 8, 8]}  # fmt: skip
    assert graph.opset_import[0].version == 17


def test_onnx_tracker_gives_the_pytorch_trackers_boxes(
    sequence, make_network, randomise_batch_norms, monkeypatch
) -> None:
    pytest.importorskip("onnxruntime")
    frames, boxes = sequence
    network = _network(make_network, randomise_batch_norms)
    onnx_tracker = OnnxTracker.from_network(network, threads=1)
    assert (onnx_tracker.template_size, onnx_tracker.search_size) == (32, 64)
    assert onnx_tracker.session.get_session_options().intra_op_num_threads == 1
    assert not network.training and not network.box_head.ctr[0][1].training
    with pytest.raises(RuntimeError, match="initialize"):
        onnx_tracker.track(frames[0])
    gaps: list[float] = []
    original = blocks.eliminate

    def eliminate(tokens, scores, global_index, num_template, keep):
        ranked = scores.sort(dim=1, descending=True).values[0]
        gaps.append(float(ranked[keep - 1] - ranked[keep]))
        return original(tokens, scores, global_index, num_template, keep)

    monkeypatch.setattr(blocks, "eliminate", eliminate)
    expected = _track_all(OSTracker(network=network), frames, boxes[0])
    assert len(gaps) == 2 * (len(frames) - 1) and min(gaps) > 1e-7  # kept tokens not decided by rounding
    got = _track_all(onnx_tracker, frames, boxes[0])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(got, _track_all(OSTracker(network=network, fast=False), frames, boxes[0]), atol=1e-3)
    assert len({tuple(b) for b in expected.round(2)}) > 2  # the boxes move: a real comparison


def test_load_tracker_onnx_backend(tmp_path: Path, sequence, make_network, randomise_batch_norms) -> None:
    pytest.importorskip("onnxruntime")
    frames, boxes = sequence
    network = _network(make_network, randomise_batch_norms)
    checkpoint = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in network.state_dict().items()}
    torch.save({"state_dict": state, "ostrack": network.build_args, "epoch": 3}, checkpoint)
    kept = tmp_path / "exported" / "ostrack.onnx"
    tracker = load_tracker(checkpoint, backend="onnx", onnx_path=kept, threads=1)
    assert isinstance(tracker, OnnxTracker) and kept.is_file()
    expected = _track_all(load_tracker(checkpoint), frames[:5], boxes[0])
    np.testing.assert_allclose(_track_all(tracker, frames[:5], boxes[0]), expected, rtol=0, atol=1e-3)
    reloaded = OnnxTracker(kept, threads=1)  # the kept file alone makes a tracker
    np.testing.assert_allclose(_track_all(reloaded, frames[:5], boxes[0]), expected, rtol=0, atol=1e-3)
    assert isinstance(load_tracker(checkpoint, backend="onnx"), OnnxTracker)  # temporary file
    with pytest.raises(ValueError, match="backend must be one of torch, onnx"):
        load_tracker(checkpoint, backend="tensorrt")


def test_missing_packages_say_how_to_install(tmp_path: Path, monkeypatch, make_network) -> None:
    network = make_network()
    checkpoint = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in network.state_dict().items()}
    torch.save({"state_dict": state, "ostrack": network.build_args}, checkpoint)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(ImportError, match=f"'onnxruntime'.*{INSTALL}"):
        load_tracker(checkpoint, backend="onnx")
    with pytest.raises(ImportError, match=INSTALL):
        OnnxTracker(tmp_path / "missing.onnx")
    assert isinstance(load_tracker(checkpoint), OSTracker)  # the default backend needs neither
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=f"'onnx'.*{INSTALL}"):
        export_onnx(network, tmp_path / "net.onnx")
    assert not (tmp_path / "net.onnx").exists()
