"""LARS: trust-ratio scaling on matrices, plain momentum SGD on biases and norms."""

from __future__ import annotations

import torch

from vislite_pretrain.lit.lars import LARS


def test_lars_step_matches_formula() -> None:
    weight = torch.nn.Parameter(torch.full((2, 2), 2.0))
    bias = torch.nn.Parameter(torch.ones(2))
    optimizer = LARS([weight, bias], lr=0.5, weight_decay=0.1, momentum=0.9, trust_coefficient=0.001)
    weight.grad, bias.grad = torch.full((2, 2), 1.0), torch.full((2,), 3.0)
    optimizer.step()
    update = torch.full((2, 2), 1.0) + 0.1 * 2.0  # gradient + weight decay
    ratio = 0.001 * torch.linalg.norm(torch.full((2, 2), 2.0)) / torch.linalg.norm(update)
    torch.testing.assert_close(weight.detach(), torch.full((2, 2), 2.0) - 0.5 * ratio * update)
    torch.testing.assert_close(bias.detach(), torch.ones(2) - 0.5 * 3.0)  # no decay, no trust ratio
