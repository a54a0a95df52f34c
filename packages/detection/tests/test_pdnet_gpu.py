"""PDNet's collection ops and detector on CUDA match the CPU (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from vislite_detection.models import create_detector
from vislite_detection.pdnet import collect_concat, collect_merge


@pytest.mark.gpu
@pytest.mark.parametrize("size", [(1, 1), (7, 11), (100, 168)])
def test_collection_ops_match_on_cuda(size: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(0)
    h, w = size
    inp = torch.randn(2, 9 * 5, h, w, generator=gen, dtype=torch.float64)
    loc = torch.rand(2, 18, 6, 8, generator=gen, dtype=torch.float64) * (max(h, w) + 3) - 1.5
    bias = torch.randn(5, generator=gen, dtype=torch.float64)
    results = {}
    for device in ("cpu", "cuda"):
        tensors = [t.to(device).requires_grad_() for t in (inp, loc, bias)]
        merged = collect_merge(*tensors, point_num=9)
        concat = collect_concat(tensors[0], tensors[1], point_num=9)
        (merged.square().sum() + concat.square().sum()).backward()
        results[device] = [merged, concat, *(t.grad for t in tensors)]
    for cpu, cuda in zip(results["cpu"], results["cuda"]):
        torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
def test_detector_matches_on_cuda() -> None:
    torch.manual_seed(0)
    model = create_detector("test_pdnet").train()
    images = [torch.rand(3, 128, 128), torch.rand(3, 96, 112)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 60.0, 80.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.tensor([[30.0, 30.0, 90.0, 70.0]]), "labels": torch.tensor([5])},
    ]
    cpu = model(images, targets)
    model = model.cuda()
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # compare fp32 with fp32
    try:
        cuda = model([i.cuda() for i in images], [{k: v.cuda() for k, v in t.items()} for t in targets])
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    for name in cpu:
        torch.testing.assert_close(cuda[name].cpu(), cpu[name], rtol=1e-3, atol=1e-4)
