"""The DB head: probability and threshold branches joined by differentiable binarization."""

from __future__ import annotations

import logging

import torch
from torch import nn

from ocr.models.numerics import describe, ensure_finite, is_finite_range, value_range

logger = logging.getLogger(__name__)


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
    training the approximate binary map B = sigmoid(k (P - T)) with k = 50."""

    def __init__(self, in_channels: int, k: float = 50.0):
        super().__init__()
        self.k = k
        self.binarize = _upsampling_branch(in_channels)
        self.thresh_logits = _upsampling_branch(in_channels)

    def thresh(self, fuse: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.thresh_logits(fuse))

    def _step_function(
        self, x: torch.Tensor, y: torch.Tensor, measured_range: tuple[float, float] | None = None
    ) -> torch.Tensor:
        """Differentiable binarization of prob maps `x` against threshold map `y`: sigmoid(k (x - y)).

        BUG-20251110-002: sigmoid replaces reciprocal + exp, whose gradient overflowed to NaN.
        The original form, torch.reciprocal(1 + torch.exp(-k * (x - y))), is finite in the forward
        pass, but once exp(-k (x - y)) overflows to inf its backward pass multiplies 0 by inf and
        the gradient is NaN. With k = 50 that happens where x - y <= -0.2218 in float16
        and x - y <= -1.781 in bfloat16; in float32 only where x - y <= -1.774, out of reach for
        maps in [0, 1]. torch.sigmoid is the same function with a backward pass that cannot overflow.

        The inputs are clamped to [0, 1], the range of both maps. `measured_range` is the (min, max)
        over x and y when the caller has already measured it (DBHead.forward does, in the same
        reduction that validates the maps); otherwise it is measured here.
        """
        # BUG-20251110-002: Measure the inputs' range: one min/max reduction each, one host sync
        low, high = measured_range if measured_range is not None else value_range(x, y)

        # BUG-20251110-002: Clamp inputs to prevent extreme values (inside [0, 1] a clamp changes neither values nor gradients)
        if not (0.0 <= low and high <= 1.0):
            x = torch.clamp(x, 0.0, 1.0)
            y = torch.clamp(y, 0.0, 1.0)

        # BUG-20251110-002: Use sigmoid, whose gradient cannot overflow, instead of reciprocal + exp
        result = torch.sigmoid(self.k * (x - y))

        # BUG-20251110-002: Validate output to catch any remaining numerical issues (a NaN input survives clamping)
        if not is_finite_range((low, high)) and not torch.isfinite(result).all():
            logger.error("step function produced non-finite values: %s", describe("result", result))
            result = torch.nan_to_num(result, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)

        return result

    def forward(self, x: torch.Tensor, return_loss: bool = True) -> dict[str, torch.Tensor]:
        fuse = x
        prob_logits = self.binarize(fuse)  # [N, 1, H, W]
        prob_maps = torch.sigmoid(prob_logits)
        if not return_loss:
            return {"prob_maps": prob_maps}

        thresh = self.thresh(fuse)

        # BUG-20251110-002: Validate thresh map and prob maps before the step function
        maps_range = ensure_finite({"thresh map": thresh, "prob maps": prob_maps}, where="DBHead.forward")

        thresh_binary = self._step_function(prob_maps, thresh, measured_range=maps_range)
        return {
            "prob_logits": prob_logits,
            "prob_maps": prob_maps,
            "thresh_map": thresh,
            "binary_map": thresh_binary,
        }
