"""Balanced binary cross-entropy with hard negative mining, on logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BalancedBCELoss(nn.Module):
    """BCE over all positive pixels and the hardest `negative_ratio` times as many negatives.

    Takes logits: `binary_cross_entropy_with_logits` is stable and safe under autocast, where
    BCE on probabilities is not."""

    def __init__(self, negative_ratio: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.negative_ratio = negative_ratio
        self.eps = eps

    def forward(self, logits: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = logits[:, 0] if logits.dim() == 4 else logits  # [N, H, W]
        positive = gt * mask
        negative = (1 - gt) * mask
        positive_count = int(positive.sum().item())
        negative_count = min(int(negative.sum().item()), int(positive_count * self.negative_ratio))
        loss = F.binary_cross_entropy_with_logits(logits.float(), gt.float(), reduction="none")
        positive_loss = (loss * positive).sum()
        negative_loss, _ = torch.topk((loss * negative).flatten(), negative_count)
        return (positive_loss + negative_loss.sum()) / (positive_count + negative_count + self.eps)
