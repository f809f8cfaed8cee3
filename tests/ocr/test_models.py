"""Every module of DBNet: output shapes, no NaN after forward, a gradient for every parameter."""

from __future__ import annotations

import pytest
import torch

from ocr.models.backbone import ResNetBackbone
from ocr.models.dbnet import DBNet
from ocr.models.head import DBHead, differentiable_binarization
from ocr.models.loss import BalancedBCELoss, DBLoss, MaskL1Loss
from ocr.models.neck import FPN
from ocr.models.numerics import FiniteCheck, check_finite, deferred_checks, run_checks

SHAPES = [(2, 32, 32), (2, 64, 96), (3, 96, 64)]


def assert_every_parameter_has_gradient(module: torch.nn.Module) -> None:
    missing = [name for name, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no finite gradient for {missing}"


@pytest.mark.parametrize(("batch", "height", "width"), SHAPES)
def test_backbone_returns_four_levels_at_strides_4_to_32(batch, height, width):
    features = ResNetBackbone()(torch.randn(batch, 3, height, width))
    assert [f.shape[-2:] for f in features] == [(height // s, width // s) for s in (4, 8, 16, 32)]
    assert all(torch.isfinite(f).all() for f in features)


@pytest.mark.parametrize(("batch", "height", "width"), SHAPES)
def test_fpn_fuses_levels_at_stride_4(batch, height, width):
    backbone = ResNetBackbone()
    neck = FPN(backbone.out_channels, inner_channels=32)
    fused = neck(backbone(torch.randn(batch, 3, height, width)))
    assert fused.shape == (batch, 32, height // 4, width // 4)


def test_fpn_rejects_inner_channels_not_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        FPN((8, 16), inner_channels=30)


@pytest.mark.parametrize(("batch", "height", "width"), SHAPES)
def test_dbnet_train_outputs_have_input_resolution_and_are_finite(batch, height, width):
    outputs = DBNet()(torch.randn(batch, 3, height, width))
    assert set(outputs) == {"prob_logits", "prob_maps", "thresh_map", "binary_map"}
    for name, value in outputs.items():
        assert value.shape == (batch, 1, height, width), name
        assert torch.isfinite(value).all(), name
    for name in ("prob_maps", "thresh_map", "binary_map"):
        assert outputs[name].min() >= 0 and outputs[name].max() <= 1, name


def test_dbnet_inference_returns_only_prob_maps():
    outputs = DBNet().eval()(torch.randn(1, 3, 64, 64), return_loss=False)
    assert list(outputs) == ["prob_maps"]


def test_db_loss_gives_every_parameter_a_gradient():
    model = DBNet()
    images = torch.randn(2, 3, 64, 64)
    gt = (torch.rand(2, 64, 64) > 0.8).float()
    batch = {
        "gt_shrink": gt,
        "gt_shrink_mask": torch.ones(2, 64, 64),
        "gt_thresh": torch.full((2, 64, 64), 0.3),
        "gt_thresh_mask": torch.ones(2, 64, 64),
    }
    terms = DBLoss()(model(images), batch)
    assert set(terms) == {"loss_prob", "loss_thresh", "loss_binary", "loss"}
    expected_total = 5 * terms["loss_prob"] + 10 * terms["loss_thresh"] + terms["loss_binary"]
    assert torch.allclose(terms["loss"], expected_total)
    terms["loss"].backward()
    assert_every_parameter_has_gradient(model)


def test_balanced_bce_mines_three_negatives_per_positive():
    gt = torch.zeros(1, 1, 10)
    gt[..., 0] = 1
    logits = torch.zeros(1, 1, 10)
    logits[..., 1] = 5.0  # the hardest negative
    loss = BalancedBCELoss(negative_ratio=3)(logits, gt, torch.ones(1, 1, 10))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    positive = bce(torch.tensor(0.0), torch.tensor(1.0))
    hard = bce(torch.tensor(5.0), torch.tensor(0.0))
    easy = bce(torch.tensor(0.0), torch.tensor(0.0))
    assert torch.isclose(loss, (positive + hard + 2 * easy) / 4, atol=1e-5)


def test_masked_l1_ignores_masked_pixels_and_empty_masks():
    pred = torch.tensor([[[0.0, 1.0]]])
    gt = torch.tensor([[[1.0, 1.0]]])
    assert MaskL1Loss()(pred, gt, torch.tensor([[[0.0, 1.0]]])).item() == pytest.approx(0.0)
    assert MaskL1Loss()(pred, gt, torch.tensor([[[1.0, 0.0]]])).item() == pytest.approx(1.0, rel=1e-5)
    assert MaskL1Loss()(pred, gt, torch.zeros(1, 1, 2)).item() == 0.0


def test_head_raises_on_nan_threshold_map_before_the_step_function():
    head = DBHead(16)
    head.thresh = lambda fuse: torch.full((1, 1, 8, 8), float("nan"))  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="thresh map"):
        head(torch.randn(1, 16, 2, 2))


def test_balanced_bce_keeps_the_hardest_negatives_as_topk_would():
    """The device-side ranking gives topk's loss, with the count never read back to the host."""
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 16, 16, generator=generator)
    gt = (torch.rand(2, 16, 16, generator=generator) > 0.9).float()
    mask = (torch.rand(2, 16, 16, generator=generator) > 0.1).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, gt, reduction="none")
    positives = int((gt * mask).sum())
    negatives = min(int(((1 - gt) * mask).sum()), 3 * positives)
    hardest = torch.topk((bce * (1 - gt) * mask).flatten(), negatives).values.sum()
    expected = ((bce * gt * mask).sum() + hardest) / (positives + negatives + 1e-6)
    torch.testing.assert_close(BalancedBCELoss()(logits, gt, mask), expected)
    assert BalancedBCELoss()(logits, torch.zeros_like(gt), mask).item() == 0.0  # no text: no negatives either


def test_db_loss_drops_the_channel_once_and_refuses_other_shapes():
    batch = {name: torch.zeros(2, 8, 8) for name in ("gt_shrink", "gt_shrink_mask", "gt_thresh", "gt_thresh_mask")}
    preds = {name: torch.rand(2, 1, 8, 8) for name in ("prob_logits", "thresh_map", "binary_map")}
    assert DBLoss()(preds, batch)["loss"].shape == ()
    with pytest.raises(AssertionError):
        DBLoss()({name: t[:, 0] for name, t in preds.items()}, batch)  # [N, H, W]: no channel to drop


def test_head_binarizes_with_the_public_step_function():
    torch.manual_seed(0)
    head = DBHead(16, k=50.0)
    outputs = head(torch.randn(2, 16, 4, 4))
    expected = differentiable_binarization(outputs["prob_maps"], outputs["thresh_map"], 50.0)
    torch.testing.assert_close(outputs["binary_map"], expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_step_function_is_finite_for_any_finite_input(dtype):
    """sigmoid saturates instead of overflowing, and P - T is clamped to [-1, 1]."""
    big = torch.finfo(dtype).max
    x = torch.tensor([-big, big, 0.0, 5.0, -3.0], dtype=dtype, requires_grad=True)
    y = torch.tensor([big, -big, 0.0, -5.0, 3.0], dtype=dtype, requires_grad=True)
    b = differentiable_binarization(x, y, 50.0)
    b.sum().backward()
    assert torch.isfinite(b).all() and torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    expected = torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0], dtype=dtype)
    torch.testing.assert_close(b, expected, atol=1e-20, rtol=0)  # sigmoid(-50) is 2e-22 in float32


def test_finite_checks_run_at_once_outside_training_and_later_inside():
    bad = torch.tensor([1.0, float("nan")])
    with pytest.raises(
        ValueError,
        match=r"^where: NaN or Inf values in bad \(bad: shape \(2,\), dtype float32, device cpu, 1 NaN, 0 Inf",
    ):
        check_finite("where", {"good": torch.ones(3), "bad": bad, "empty": torch.ones(0)})
    with deferred_checks() as checks:
        check_finite("where", {"good": torch.ones(3), "bad": bad})  # queued: nothing raised yet
    extremes = checks.extremes()
    assert extremes is not None and extremes.shape == (4,)
    with pytest.raises(ValueError, match=r"^where: NaN or Inf values in bad \(bad: "):
        checks.raise_first_error(extremes.tolist())


def test_run_checks_reads_scalars_back_in_the_same_sync():
    values = run_checks([FiniteCheck.of("where", {"x": torch.arange(4.0)})], torch.tensor(2.5), torch.tensor(7))
    assert values == [2.5, 7.0]
    with deferred_checks():
        assert run_checks([FiniteCheck.of("where", {"x": torch.arange(4.0)})], torch.tensor(2.5)) is None


def test_the_first_failing_check_raises_with_its_context():
    checks = [
        FiniteCheck.of("first", {"a": torch.ones(2)}),
        FiniteCheck.of("second", {"b": torch.tensor([float("inf")])}, lambda: "more detail"),
        FiniteCheck.of("third", {"c": torch.tensor([float("nan")])}),
    ]
    with pytest.raises(ValueError, match=r"^second: .*1 Inf, range none finite; more detail\)$"):
        run_checks(checks)
