"""Balanced binary cross-entropy with hard negative mining, on logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BalancedBCELoss(nn.Module):
    """BCE over all positive pixels and the hardest `negative_ratio` times as many negatives,
    for [N, H, W] maps.

    Takes logits: `binary_cross_entropy_with_logits` is stable and safe under autocast, where
    BCE on probabilities is not."""

    def __init__(self, negative_ratio: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.negative_ratio = negative_ratio
        self.eps = eps

    def forward(self, logits: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The balanced loss of one batch, computed without a host sync (BUG-20251110-002: the
        training step's finite checks share its one sync, which a count read back here would double)."""
        assert logits.shape == gt.shape == mask.shape, (logits.shape, gt.shape, mask.shape)
        positive = gt * mask
        negative = (1 - gt) * mask
        positive_count = positive.sum().floor()
        negative_count = torch.minimum(negative.sum().floor(), (positive_count * self.negative_ratio).floor())
        loss = F.binary_cross_entropy_with_logits(logits.float(), gt.float(), reduction="none")
        positive_loss = (loss * positive).sum()
        # BUG-20251110-002: Rank the negatives and keep the first negative_count on the device:
        # topk needs the count as a Python int, a host sync in every training step.
        ranked, _ = torch.sort((loss * negative).flatten(), descending=True)
        hardest = torch.arange(ranked.numel(), device=ranked.device) < negative_count
        negative_loss = (ranked * hardest).sum()
        return (positive_loss + negative_loss) / (positive_count + negative_count + self.eps)
