"""DBNet assembled: backbone -> FPN -> DB head."""

from __future__ import annotations

import torch
from torch import nn

from ocr.models.backbone import ResNetBackbone
from ocr.models.head.db_head import DBHead
from ocr.models.neck import FPN


class DBNet(nn.Module):
    def __init__(self, channels: tuple[int, int, int, int] = (16, 32, 64, 128), inner_channels: int = 64, k: float = 50.0):
        super().__init__()
        self.backbone = ResNetBackbone(channels)
        self.neck = FPN(channels, inner_channels)
        self.head = DBHead(inner_channels, k=k)

    def forward(self, images: torch.Tensor, return_loss: bool = True) -> dict[str, torch.Tensor]:
        """`images` is [N, 3, H, W] with H and W multiples of 32; maps come back at [N, 1, H, W]."""
        maps: dict[str, torch.Tensor] = self.head(self.neck(self.backbone(images)), return_loss=return_loss)
        return maps
