"""A small ResNet-style backbone that returns feature maps at strides 4, 8, 16 and 32."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

NormLayer = Callable[[int], nn.Module]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34's block)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, norm_layer: NormLayer = nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = norm_layer(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), norm_layer(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + self.downsample(x))
        return result


class ResNetBackbone(nn.Module):
    """Stem (stride 4) and four stages of basic blocks; `channels` sets each stage's width."""

    def __init__(
        self,
        channels: tuple[int, int, int, int] = (16, 32, 64, 128),
        blocks_per_stage: tuple[int, int, int, int] = (1, 1, 1, 1),
        in_channels: int = 3,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ):
        super().__init__()
        self.out_channels = channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, stride=2, padding=1, bias=False),
            norm_layer(channels[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        previous = channels[0]
        for index, (width, count) in enumerate(zip(channels, blocks_per_stage)):
            stride = 1 if index == 0 else 2
            blocks = [BasicBlock(previous, width, stride, norm_layer)]
            blocks += [BasicBlock(width, width, 1, norm_layer) for _ in range(count - 1)]
            stages.append(nn.Sequential(*blocks))
            previous = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = self.stem(x)  # [N, C0, H/4, W/4]
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features  # strides 4, 8, 16, 32
