"""NDet box correction: ``correct_boxes`` against hand-computed cases, validity, and the teachers' plumbing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.ops import box_iou

from vislite_detection.models import create_detector, load_detector_weights
from vislite_detection.ndet import (
    CorrectingTransform,
    FasterRCNNBoxCorrector,
    FCOSBoxCorrector,
    correct_boxes,
    correct_boxes_per_gt,
    pairwise_iou,
    with_box_correction,
)

D = torch.float64
G = torch.tensor([[0.0, 0.0, 10.0, 10.0]], dtype=D)  # one noisy box of class 1
LABEL = torch.tensor([1])


def _probs(*class1: float, num_classes: int = 3) -> torch.Tensor:
    """[P, C] class probabilities with the given values for class 1 and 0.01 elsewhere."""
    probs = torch.full((len(class1), num_classes), 0.01, dtype=D)
    probs[:, 1] = torch.tensor(class1, dtype=D)
    return probs


def test_fusion_matches_a_hand_computed_case() -> None:
    preds = torch.tensor(
        [
            [0.0, 0.0, 10.0, 11.0],  # IoU 100/110 = 0.91 > 0.7, s = 0.8 * 0.5 = 0.4 -> weight 0.4
            [1.0, 1.0, 11.0, 11.0],  # IoU 81/119 = 0.68 <= 0.7 -> weight 0
            [0.0, 0.0, 12.0, 10.0],  # IoU 100/120 = 0.83, s = 0.6 * 1.0 = 0.6 -> weight 0.6
            [0.0, 0.0, 10.0, 10.0],  # IoU 1, but s = 0.04 * 1.0 < 0.05 -> dropped
        ],
        dtype=D,
    )
    out = correct_boxes(G, LABEL, preds, _probs(0.8, 0.9, 0.6, 0.04), torch.tensor([0.5, 1.0, 1.0, 1.0], dtype=D))
    # x2 = (10 + 0.4*10 + 0.6*12) / 2 = 10.6, y2 = (10 + 0.4*11 + 0.6*10) / 2 = 10.2
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 10.6, 10.2]], dtype=D))


def test_single_prediction_weighting() -> None:
    pred = torch.tensor([[0.0, 0.0, 10.0, 11.0]], dtype=D)
    out = correct_boxes(G, LABEL, pred, _probs(0.8), torch.tensor([0.5], dtype=D))
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 10.0, (10 + 0.4 * 11) / 1.4]], dtype=D))


def test_no_teacher_match_leaves_the_box_unchanged() -> None:
    far = torch.tensor([[20.0, 20.0, 30.0, 30.0], [5.0, 5.0, 15.0, 15.0]], dtype=D)  # IoU 0 and 25/175
    out = correct_boxes(G, LABEL, far, _probs(0.99, 0.99), torch.ones(2, dtype=D))
    assert torch.equal(out, G)


def test_all_low_scores_leave_the_box_unchanged() -> None:
    close = torch.tensor([[0.0, 0.0, 10.0, 10.5], [0.5, 0.0, 10.0, 10.0]], dtype=D)
    out = correct_boxes(G, LABEL, close, _probs(0.2, 0.1), torch.tensor([0.2, 0.4], dtype=D))  # s = 0.04, 0.04
    assert torch.equal(out, G)


def test_only_the_boxes_own_class_counts() -> None:
    pred = torch.tensor([[0.0, 0.0, 10.0, 11.0]], dtype=D)
    probs = torch.tensor([[0.01, 0.01, 0.99]], dtype=D)  # confident, but of class 2
    assert torch.equal(correct_boxes(G, LABEL, pred, probs, torch.ones(1, dtype=D)), G)


def test_score_threshold_is_inclusive_and_iou_threshold_strict() -> None:
    pred = torch.tensor([[0.0, 0.0, 10.0, 11.0]], dtype=D)
    at_thr = correct_boxes(G, LABEL, pred, _probs(0.05), torch.ones(1, dtype=D))  # s = 0.05 is kept
    torch.testing.assert_close(at_thr[0, 3], torch.tensor((10 + 0.05 * 11) / 1.05, dtype=D))
    # IoU exactly 0.7: 70/100 (a box of area 70 inside g)
    inner = torch.tensor([[0.0, 0.0, 10.0, 7.0]], dtype=D)
    assert torch.equal(correct_boxes(G, LABEL, inner, _probs(0.9), torch.ones(1, dtype=D)), G)
    assert torch.equal(
        correct_boxes(G, LABEL, inner, _probs(0.9), torch.ones(1, dtype=D), iou_thr=0.69).ne(G).any(dim=1),
        torch.tensor([True]),
    )


def test_empty_inputs_and_shape_errors() -> None:
    empty = torch.zeros(0, 4, dtype=D)
    assert correct_boxes(empty, torch.zeros(0, dtype=torch.int64), G, _probs(0.9), torch.ones(1)).shape == (0, 4)
    assert torch.equal(correct_boxes(G, LABEL, empty, torch.zeros(0, 3), torch.zeros(0)), G)
    with pytest.raises(ValueError, match=r"pred_cls_prob must have shape \[1, C\]"):
        correct_boxes(G, LABEL, G, torch.zeros(2, 3), torch.ones(1))
    with pytest.raises(ValueError, match="gt_labels must index the 2 columns"):
        correct_boxes(G, torch.tensor([2]), G, torch.zeros(1, 2), torch.ones(1))


def test_corrected_boxes_are_always_valid_and_inside_the_hull() -> None:
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(50, 2, generator=gen, dtype=D) * 100
    gt = torch.cat([gt, gt + 0.01 + torch.rand(50, 2, generator=gen, dtype=D) * 40], dim=1)  # some 0.01 px wide
    labels = torch.randint(0, 4, (50,), generator=gen)
    preds = gt.repeat(20, 1) + torch.randn(1000, 4, generator=gen, dtype=D) * 2.0
    preds = torch.cat([preds, preds[:50, [2, 3, 0, 1]]])  # plus inverted boxes, which must never count
    probs = torch.rand(1050, 4, generator=gen, dtype=D)
    ctr = torch.rand(1050, generator=gen, dtype=D)
    out = correct_boxes(gt, labels, preds, probs, ctr)
    assert ((out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])).all()
    assert (out != gt).any()  # some boxes did move
    assert (out[:, :2] >= torch.minimum(gt[:, :2], preds[:, :2].min(0).values) - 1e-9).all()


def test_correction_pulls_noisy_boxes_towards_the_truth() -> None:
    gen = torch.Generator().manual_seed(1)
    clean = torch.tensor([[20.0, 30.0, 80.0, 90.0]], dtype=D).repeat(200, 1)
    noisy = clean + torch.randn(200, 4, generator=gen, dtype=D) * 0.1 * 60  # gamma = 0.1
    preds = clean + torch.randn(200, 4, generator=gen, dtype=D) * 1.5  # a teacher close to the truth
    out = correct_boxes_per_gt(noisy, preds[None].expand(200, -1, -1), torch.full((200, 200), 0.6, dtype=D))
    assert pairwise_iou(out, clean).mean() > pairwise_iou(noisy, clean).mean() + 0.05


def test_per_box_candidates_agree_with_the_one_stage_rule() -> None:
    gen = torch.Generator().manual_seed(2)
    gt = torch.tensor([[10.0, 10.0, 50.0, 40.0], [60.0, 5.0, 90.0, 70.0]], dtype=D)
    labels = torch.tensor([0, 2])
    preds = gt.repeat(30, 1) + torch.randn(60, 4, generator=gen, dtype=D) * 3
    probs, ctr = torch.rand(60, 3, generator=gen, dtype=D), torch.rand(60, generator=gen, dtype=D)
    scores = (probs[:, labels] * ctr[:, None]).t()  # [G, P]
    expected = correct_boxes(gt, labels, preds, probs, ctr)
    torch.testing.assert_close(correct_boxes_per_gt(gt, preds[None].expand(2, -1, -1), scores), expected)


def _batch() -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [50.0, 20.0, 90.0, 60.0]])
    targets = [
        {"boxes": boxes + 2.0, "labels": torch.tensor([1, 3]), "clean_boxes": boxes},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "clean_boxes": torch.zeros(0, 4)},
    ]
    return [torch.rand(3, 96, 128), torch.rand(3, 128, 96)], targets


@pytest.mark.parametrize(
    ("name", "corrector"), [("test_fcos", FCOSBoxCorrector), ("test_faster_rcnn", FasterRCNNBoxCorrector)]
)
def test_teacher_corrects_the_students_own_batch(name: str, corrector: type) -> None:
    torch.manual_seed(0)
    teacher = create_detector(name)
    fixer = corrector(teacher=teacher, score_thr=0.0)
    student = with_box_correction(detector=create_detector(name), corrector=fixer)
    assert isinstance(student.transform, CorrectingTransform)
    student.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    refined: list[torch.Tensor] = []
    if isinstance(fixer, FasterRCNNBoxCorrector):  # record what the RPN selection hands to the RoI head
        refine = fixer.refine

        def spy(features: dict[str, torch.Tensor], proposals: torch.Tensor, size: tuple[int, int]) -> tuple:
            refined.append(proposals)
            return refine(features, proposals, size)

        fixer.refine = spy
    images, targets = _batch()
    image_list, out = student.transform(images, targets)
    assert torch.equal(out[0]["noisy_boxes"], targets[0]["boxes"])
    if refined:  # the untrained RPN still yields proposals above IoU 0.5 for both boxes, and only those
        best = box_iou(refined[0], targets[0]["boxes"])  # [R, G]
        assert len(refined) == 1 and (best.max(dim=1).values > 0.5).all()
        assert ((best > 0.5).sum(dim=0) > 0).all()
    assert bool(refined) == (name == "test_faster_rcnn")
    new = out[0]["boxes"]
    assert ((new[:, 2:] > new[:, :2]).all()) and out[1]["boxes"].shape == (0, 4)
    quality = student.transform.box_quality
    assert set(quality) == {"iou_noisy", "iou_corrected"} and 0 < quality["iou_noisy"] < 1
    losses = student(images, targets)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_student_checkpoint_loads_back_as_a_plain_detector(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = create_detector("test_fcos")
    student = with_box_correction(detector=create_detector("test_fcos"), corrector=FCOSBoxCorrector(teacher=teacher))
    state = {f"model.{k}": v for k, v in student.state_dict().items()}
    assert any(k.startswith("model.transform.corrector.teacher.") for k in state)  # the teacher travels with it
    torch.save({"state_dict": state}, tmp_path / "student.ckpt")
    plain = load_detector_weights(create_detector("test_fcos"), tmp_path / "student.ckpt")
    assert torch.equal(
        plain.head.classification_head.cls_logits.weight, student.head.classification_head.cls_logits.weight
    )


def test_teacher_must_normalise_like_the_student() -> None:
    teacher = create_detector("test_fcos")
    teacher.transform.image_mean = [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="normalise differently"):
        with_box_correction(detector=create_detector("test_fcos"), corrector=FCOSBoxCorrector(teacher=teacher))
