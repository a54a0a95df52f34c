"""MAE-Lite's DeiT-style distillation fine-tune: the distillation-token ViT, the loss, the recipe."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig

from vislite_pretrain.finetune_distill import DistillFinetuneClassifier, DistillTokenViT, distillation_loss


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["data.root=/datasets/imagenet", *overrides])


def test_distillation_losses_by_hand() -> None:
    student = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    teacher = torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 3.0]])
    hard = distillation_loss(student, teacher, kind="hard")
    expected = (-math.log(1 / (math.e**2 + 2)) - math.log(1 / (math.e + 2))) / 2  # targets 1 and 2
    assert hard.item() == pytest.approx(expected, rel=1e-6)
    tau = 2.0
    p = F.softmax(teacher / tau, dim=1)
    kl = (p * (p.log() - F.log_softmax(student / tau, dim=1))).sum() * tau * tau / student.numel()
    assert distillation_loss(student, teacher, kind="soft", tau=tau).item() == pytest.approx(kl.item(), rel=1e-6)
    with pytest.raises(ValueError, match="soft' or 'hard"):
        distillation_loss(student, teacher, kind="kl")


def test_distillation_token_heads() -> None:
    vit = timm.create_model("test_vislite_vit", num_classes=5)
    model = DistillTokenViT(vit=vit)
    images = torch.randn(2, 3, 32, 32)
    logits, dist = model.train()(images)
    with torch.no_grad():
        tokens = vit.forward_features(images)
        assert torch.allclose(logits, vit.head(vit.fc_norm(tokens[:, 1:].mean(1))), atol=1e-6)
        assert torch.allclose(dist, model.head_dist(model.dist_norm(tokens[:, 0])), atol=1e-6)
        assert torch.allclose(model.eval()(images), (logits + dist) / 2, atol=1e-5)
    assert {"head_dist.weight", "dist_norm.weight", "vit.head.weight"} <= {n for n, _ in model.named_parameters()}
    with pytest.raises(ValueError, match="global-average-pooling"):
        DistillTokenViT(vit=timm.create_model("test_vislite_vit", num_classes=5, global_pool="token", fc_norm=False))


def test_recipe_composes_builds_and_trains(tmp_path: Path) -> None:
    cfg = _compose("experiment=finetune_distill_in1k")
    assert (cfg.model.distill_type, cfg.model.distill_alpha, cfg.model.distill_tau) == ("hard", 0.5, 1.0)
    assert (cfg.model.teacher.name, cfg.trainer.max_epochs, cfg.data.re_prob) == ("regnety_160", 1000, 0.25)
    assert (cfg.model.mixup.mixup_alpha, cfg.model.mixup.cutmix_alpha, cfg.model.label_smoothing) == (0.8, 1.0, 0.1)
    teacher_file = tmp_path / "teacher.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("test_vislite_resnet", num_classes=4).state_dict(), teacher_file)
    small = _compose(
        "experiment=finetune_distill_in1k", "model.model.name=test_vislite_vit", "data.input_size=32",
        "data.num_classes=4", "model.teacher.name=test_vislite_resnet", f"model.teacher.path={teacher_file}",
        "model.mixup=null", "model.model.drop_path_rate=0.0",
    )  # fmt: skip
    module = instantiate(small.model, _convert_="all")
    assert isinstance(module, DistillFinetuneClassifier) and isinstance(module.model, DistillTokenViT)
    assert not any(p.requires_grad for p in module.teacher.parameters())
    module.train()
    assert not module.teacher.training
    optimizer = module.optimizer_factory(module.model, global_batch_size=256)
    torch.manual_seed(1)
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 4, (16,))
    losses = []
    module.log = lambda *args, **kwargs: None  # no trainer attached
    for _ in range(30):
        loss = module.training_step((images, labels), 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert module.model.head_dist.weight.grad is not None
    with torch.no_grad():
        teacher_targets = module.teacher(images).argmax(1)
        _, dist = module.model(images)
    assert (dist.argmax(1) == teacher_targets).float().mean() > 0.8  # the distillation head follows the teacher
    state = module.state_dict()
    assert state and not any(k.startswith("teacher.") for k in state)  # the frozen teacher is rebuilt from its file
    module.load_state_dict(state, strict=True)
