"""Dice loss on the approximate binary map."""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from ocr.models.numerics import FiniteCheck, run_checks

logger = logging.getLogger(__name__)


class DiceLoss(nn.Module):
    """1 - 2|P∩G| / (|P| + |G| + eps) over the pixels that `mask` (times optional `weights`) keeps,
    for maps of shape [N, H, W] (DBLoss drops the channel axis)."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._compute(pred, gt, mask, weights)

    def _compute(
        self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """Dice loss of one batch, with its inputs and result validated.

        BUG-20251110-002: validate pred and the loss; an empty union gives 1.0, not 0/0.
        `pred` is the approximate binary map, where a broken step function shows first. The
        checks cost one host sync here, or none inside the training step, which reads them back
        with its loss; nothing here branches on a value, so the loss is the same either way.
        """
        assert pred.shape == gt.shape, (pred.shape, gt.shape)
        assert pred.shape == mask.shape, (pred.shape, mask.shape)
        if weights is not None:
            assert weights.shape == mask.shape, (weights.shape, mask.shape)
            mask = weights * mask

        pred_check = FiniteCheck.of("DiceLoss", {"pred": pred})

        pred = pred.clamp(0, 1)
        intersection = (pred * gt * mask).sum()
        union = (pred * mask).sum() + (gt * mask).sum() + self.eps
        # BUG-20251110-002: Check for degenerate cases before trusting the division: with + eps an
        # empty union gives exactly 1 - 0 / eps = 1.0 and a zero gradient, with no branch and no sync
        loss = 1 - 2.0 * intersection / union

        # BUG-20251110-002: Enhanced input validation (NaN or Inf in pred means the step function
        # broke) and the loss value validated, both read back in one sync, or queued in training
        values = run_checks(
            [
                pred_check,
                FiniteCheck.of(
                    "DiceLoss",
                    {"loss": loss},
                    lambda: f"intersection {intersection.item():.6e}, union {union.item():.6e}, pred shape {tuple(pred.shape)}",
                ),
            ],
            union,
            loss,
        )

        if values is not None:  # outside training: diagnostics from the same sync
            union_value, loss_value = values
            if union_value < 2 * self.eps:
                logger.warning("DiceLoss: union %.3e is under 2 * eps; the loss is 1.0", union_value)
            if loss_value > 1.01:
                warnings.warn(f"DiceLoss: loss {loss_value:.4f} exceeds 1; clamping to [0, 2]", RuntimeWarning, stacklevel=2)

        # BUG-20251110-002: Clamp the loss to [0, 2]: only corrupt targets or weights take it above 1,
        # and a clamp that always runs needs no host sync to decide whether to run
        return loss.clamp(0, 2)
