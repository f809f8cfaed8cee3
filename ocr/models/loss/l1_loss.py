"""Masked L1 loss on the threshold map."""

from __future__ import annotations

import torch
from torch import nn


class MaskL1Loss(nn.Module):
    """Mean absolute error over the pixels `mask` keeps, for [N, H, W] maps."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert pred.shape == gt.shape == mask.shape, (pred.shape, gt.shape, mask.shape)
        # + eps rather than a branch on mask.sum() == 0: no host synchronisation.
        return (torch.abs(pred - gt) * mask).sum() / (mask.sum() + self.eps)
