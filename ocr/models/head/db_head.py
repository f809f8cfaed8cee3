"""The DB head: probability and threshold branches joined by differentiable binarization."""

from __future__ import annotations

import torch
from torch import nn


def _upsampling_branch(in_channels: int) -> nn.Sequential:
    """conv 3x3 -> BN -> ReLU -> deconv x2 -> BN -> ReLU -> deconv x2 to one channel (logits)."""
    mid = in_channels // 4
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, mid, 2, stride=2),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, 1, 2, stride=2),
    )


class DBHead(nn.Module):
    """Predicts a probability map P and a threshold map T at the input's resolution, and in
    training the approximate binary map B = 1 / (1 + exp(-k (P - T))) with k = 50."""

    def __init__(self, in_channels: int, k: float = 50.0):
        super().__init__()
        self.k = k
        self.binarize = _upsampling_branch(in_channels)
        self.thresh_logits = _upsampling_branch(in_channels)

    def thresh(self, fuse: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.thresh_logits(fuse))

    def _step_function(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Differentiable binarization of prob maps `x` against threshold map `y`."""
        return torch.reciprocal(1 + torch.exp(-self.k * (x - y)))

    def forward(self, x: torch.Tensor, return_loss: bool = True) -> dict[str, torch.Tensor]:
        fuse = x
        prob_logits = self.binarize(fuse)  # [N, 1, H, W]
        prob_maps = torch.sigmoid(prob_logits)
        if not return_loss:
            return {"prob_maps": prob_maps}

        thresh = self.thresh(fuse)
        thresh_binary = self._step_function(prob_maps, thresh)
        return {
            "prob_logits": prob_logits,
            "prob_maps": prob_maps,
            "thresh_map": thresh,
            "binary_map": thresh_binary,
        }
