"""The pixel loss follows mmseg's ``CrossEntropyLoss``: ignored pixels count in the mean's denominator unless
``avg_non_ignore``; the decode head's loss has weight 1 and the UperNet auxiliary head's 0.4."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from vislite_common.engine.compose import compose_config
from vislite_segmentation.models.heads import FPNHead
from vislite_segmentation.models.heads.base import pixel_cross_entropy

I = 255  # noqa: E741  (ignore)


def _case() -> tuple[torch.Tensor, torch.Tensor]:
    """Four pixels in a row: two labelled, two ignored (with logits that would cost a lot if counted)."""
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [-9.0, 9.0], [9.0, -9.0]]).T.reshape(1, 2, 1, 4)  # [B, K, H, W]
    labels = torch.tensor([[[0, 1, I, I]]])  # [B, H, W]
    return logits, labels


def test_mmseg_mean_divides_by_every_pixel() -> None:
    logits, labels = _case()
    labelled_sum = math.log(1 + math.exp(-2.0)) + math.log(2.0)  # -log softmax of the true class, pixels 0 and 1
    mmseg = pixel_cross_entropy(logits, labels, ignore_index=I)
    non_ignore = pixel_cross_entropy(logits, labels, ignore_index=I, avg_non_ignore=True)
    assert float(mmseg) == pytest.approx(labelled_sum / 4)  # ignored pixels: 0 in the sum, 1 in the count
    assert float(non_ignore) == pytest.approx(labelled_sum / 2)
    torch.testing.assert_close(non_ignore, F.cross_entropy(logits, labels, ignore_index=I))  # PyTorch's mean
    no_ignored = torch.tensor([[[0, 1, 1, 0]]])
    torch.testing.assert_close(  # without ignored pixels the two averages agree
        pixel_cross_entropy(logits, no_ignored), pixel_cross_entropy(logits, no_ignored, avg_non_ignore=True)
    )


def test_ignored_pixels_get_no_gradient_and_all_ignored_is_zero() -> None:
    logits, labels = _case()
    logits.requires_grad_(True)
    pixel_cross_entropy(logits, labels, ignore_index=I).backward()
    assert logits.grad[..., 2:].abs().sum() == 0 and logits.grad[..., :2].abs().sum() > 0
    for avg_non_ignore in (False, True):
        loss = pixel_cross_entropy(logits, torch.full_like(labels, I), avg_non_ignore=avg_non_ignore)
        assert float(loss.detach()) == 0.0 and loss.requires_grad


def test_heads_use_the_option_and_resize_logits_to_the_label() -> None:
    logits, labels = _case()
    labels = labels.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)  # [1, 2, 8]: logits get upsampled
    for avg_non_ignore, count in ((False, 16), (True, 8)):
        head = FPNHead(in_channels=[4], strides=[4], num_classes=2, avg_non_ignore=avg_non_ignore)
        up = F.interpolate(logits, size=(2, 8), mode="bilinear", align_corners=False)  # [1, 2, 2, 8]
        expected = F.cross_entropy(up, labels, ignore_index=I, reduction="sum") / count
        torch.testing.assert_close(head.compute_loss(logits, labels), expected)


def test_configs_default_to_mmseg_weights_and_averaging(tmp_path: Path) -> None:
    def model_cfg(*overrides: str):
        cfg = compose_config(
            "vislite_segmentation.configs",
            ["experiment=semfpn_vit_tiny_ade20k", f"paths.data_dir={tmp_path}", *overrides],
            output_dir=tmp_path,
        )
        return cfg.model.model

    semfpn = model_cfg()
    assert semfpn.decode_head.avg_non_ignore is False and semfpn.auxiliary_head is None
    upernet = model_cfg("model=upernet")
    assert (upernet.decode_head.avg_non_ignore, upernet.auxiliary_head.avg_non_ignore) == (False, False)
    assert upernet.aux_weight == 0.4  # mmseg's UperNet configs: FCNHead loss_weight 0.4, decode head 1.0
    head = instantiate(model_cfg("model.model.decode_head.avg_non_ignore=true").decode_head)(in_channels=[16] * 4)
    assert head.avg_non_ignore is True


def test_segmentor_total_is_decode_plus_weighted_aux(segmentor) -> None:
    torch.manual_seed(0)
    images, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 11, (2, 32, 32))
    labels[:, :8] = I
    losses = segmentor(images, labels)
    assert set(losses) == {"loss", "loss_decode"}
    torch.testing.assert_close(losses["loss"], losses["loss_decode"])  # decode head weight 1
    head_logits = segmentor.decode_head(segmentor.features(images))  # eval mode: dropout off, same logits
    up = F.interpolate(head_logits, size=(32, 32), mode="bilinear", align_corners=False)  # [2, 11, 32, 32]
    by_hand = F.cross_entropy(up, labels, ignore_index=I, reduction="sum") / labels.numel()
    torch.testing.assert_close(losses["loss_decode"], by_hand)
