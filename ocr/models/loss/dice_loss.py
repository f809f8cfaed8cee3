"""Dice loss on the approximate binary map."""

from __future__ import annotations

import logging
import math
import warnings

import torch
from torch import nn

from ocr.models.numerics import ensure_finite

logger = logging.getLogger(__name__)


class DiceLoss(nn.Module):
    """1 - 2|P∩G| / (|P| + |G|) over the pixels that `mask` (times optional `weights`) keeps."""

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
        `pred` is the approximate binary map, where a broken step function shows first.
        """
        pred = pred[:, 0] if pred.dim() == 4 else pred  # [N, 1, H, W] -> [N, H, W]
        gt = gt[:, 0] if gt.dim() == 4 else gt
        assert pred.shape == gt.shape, (pred.shape, gt.shape)
        assert pred.shape == mask.shape, (pred.shape, mask.shape)
        if weights is not None:
            assert weights.shape == mask.shape, (weights.shape, mask.shape)
            mask = weights * mask

        # BUG-20251110-002: Enhanced input validation: NaN or Inf in pred means the step function broke
        ensure_finite({"pred": pred}, where="DiceLoss")

        pred = pred.clamp(0, 1)
        intersection = (pred * gt * mask).sum()
        union = (pred * mask).sum() + (gt * mask).sum() + self.eps
        loss = 1 - 2.0 * intersection / union
        union_value, loss_value = torch.stack([union.detach(), loss.detach()]).tolist()  # one host sync

        # BUG-20251110-002: Check for degenerate cases before trusting the division
        if union_value < 2 * self.eps:
            logger.warning("DiceLoss: union %.3e is under 2 * eps; returning a loss of 1.0", union_value)
            return pred.sum() * 0.0 + 1.0  # still connected to the graph, with a zero gradient

        # BUG-20251110-002: Validate loss value before returning
        if not math.isfinite(loss_value):
            raise ValueError(
                f"DiceLoss: loss is {loss_value}: intersection {intersection.item():.6e}, union {union_value:.6e}, "
                f"pred shape {tuple(pred.shape)}"
            )

        # BUG-20251110-002: Clamp a loss above 1.01, which only corrupt targets or weights can produce
        if loss_value > 1.01:
            warnings.warn(f"DiceLoss: loss {loss_value:.4f} exceeds 1; clamping to [0, 2]", RuntimeWarning, stacklevel=2)
            loss = loss.clamp(0, 2)

        return loss
