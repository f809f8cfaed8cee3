"""Every module of DBNet: output shapes, no NaN after forward, a gradient for every parameter."""

from __future__ import annotations

import pytest
import torch

from ocr.models.backbone import ResNetBackbone
from ocr.models.dbnet import DBNet
from ocr.models.head.db_head import DBHead
from ocr.models.loss import BalancedBCELoss, DBLoss, MaskL1Loss
from ocr.models.neck import FPN

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
        assert 0 <= outputs[name].min() and outputs[name].max() <= 1, name


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
    logits = torch.zeros(1, 1, 1, 10)
    logits[..., 1] = 5.0  # the hardest negative
    loss = BalancedBCELoss(negative_ratio=3)(logits, gt, torch.ones(1, 1, 10))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    positive = bce(torch.tensor(0.0), torch.tensor(1.0))
    hard = bce(torch.tensor(5.0), torch.tensor(0.0))
    easy = bce(torch.tensor(0.0), torch.tensor(0.0))
    assert torch.isclose(loss, (positive + hard + 2 * easy) / 4, atol=1e-5)


def test_masked_l1_ignores_masked_pixels_and_empty_masks():
    pred = torch.tensor([[[[0.0, 1.0]]]])
    gt = torch.tensor([[[1.0, 1.0]]])
    assert MaskL1Loss()(pred, gt, torch.tensor([[[0.0, 1.0]]])).item() == pytest.approx(0.0)
    assert MaskL1Loss()(pred, gt, torch.tensor([[[1.0, 0.0]]])).item() == pytest.approx(1.0, rel=1e-5)
    assert MaskL1Loss()(pred, gt, torch.zeros(1, 1, 2)).item() == 0.0


def test_head_raises_on_nan_threshold_map_before_the_step_function():
    head = DBHead(16)
    head.thresh = lambda fuse: torch.full((1, 1, 8, 8), float("nan"))  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="thresh map"):
        head(torch.randn(1, 16, 2, 2))
