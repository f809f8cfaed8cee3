"""The FPN neck of DBNet: fuses the four backbone levels into one map at stride 4."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FPN(nn.Module):
    """Top-down feature pyramid; each level is smoothed to `inner_channels // 4`, upsampled and
    concatenated, so the output has `inner_channels` channels at the finest level's size."""

    def __init__(self, in_channels: tuple[int, ...], inner_channels: int = 64):
        super().__init__()
        if inner_channels % 4:
            raise ValueError(f"inner_channels must be divisible by 4, got {inner_channels}")
        self.out_channels = inner_channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, inner_channels, 1, bias=False) for c in in_channels)
        self.smooth = nn.ModuleList(
            nn.Conv2d(inner_channels, inner_channels // 4, 3, padding=1, bias=False) for _ in in_channels
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        for level in range(len(laterals) - 1, 0, -1):
            laterals[level - 1] = laterals[level - 1] + F.interpolate(
                laterals[level], size=laterals[level - 1].shape[-2:], mode="nearest"
            )
        size = laterals[0].shape[-2:]
        smoothed = [
            F.interpolate(conv(lateral), size=size, mode="nearest") if index else conv(lateral)
            for index, (conv, lateral) in enumerate(zip(self.smooth, laterals))
        ]
        return torch.cat(smoothed, dim=1)  # [N, inner_channels, H/4, W/4]
