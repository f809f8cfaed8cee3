"""Dice loss on the approximate binary map."""

from __future__ import annotations

import torch
from torch import nn


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
        pred = pred[:, 0] if pred.dim() == 4 else pred  # [N, 1, H, W] -> [N, H, W]
        gt = gt[:, 0] if gt.dim() == 4 else gt
        assert pred.shape == gt.shape, (pred.shape, gt.shape)
        assert pred.shape == mask.shape, (pred.shape, mask.shape)
        if weights is not None:
            assert weights.shape == mask.shape, (weights.shape, mask.shape)
            mask = weights * mask

        intersection = (pred * gt * mask).sum()
        union = (pred * mask).sum() + (gt * mask).sum() + self.eps
        loss = 1 - 2.0 * intersection / union
        return loss
