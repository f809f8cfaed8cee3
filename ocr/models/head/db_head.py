"""The DB head: probability and threshold branches joined by differentiable binarization."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ocr.models.numerics import check_finite


def differentiable_binarization(prob_map: torch.Tensor, thresh_map: torch.Tensor, k: float = 50.0) -> torch.Tensor:
    """DB's approximate binary map B = 1 / (1 + exp(-k (P - T))), computed as sigmoid(k (P - T)).

    BUG-20251110-002: sigmoid replaces reciprocal + exp, whose gradient overflowed to NaN.
    The original form, torch.reciprocal(1 + torch.exp(-k * (P - T))), is finite in the forward
    pass, but once exp(-k (P - T)) overflows to inf its backward pass multiplies 0 by inf and
    the gradient is NaN. With k = 50 that happens where P - T <= -0.2218 when exp runs in
    float16 (a `.half()` model, CPU float16 autocast), where P - T <= -1.781 in bfloat16 and
    P - T <= -1.774 in float32: out of reach for maps in [0, 1], but not for other inputs. CUDA
    autocast runs exp in float32, so there the original overflows only in a half model.
    torch.sigmoid is the same function with a backward pass, s (1 - s), that cannot overflow.
    """
    assert prob_map.shape == thresh_map.shape, (prob_map.shape, thresh_map.shape)
    # BUG-20251110-002: Clamp P - T to [-1, 1], its range for maps in [0, 1], to prevent extreme
    # values: k (P - T) stays within [-k, k] whatever a caller passes. sigmoid needs no clamp to
    # stay finite; hardtanh is that clamp with a one-pass backward, where torch.clamp on both
    # inputs costs two passes forward and eight backward (benchmarks/step_function.py).
    gap = F.hardtanh(prob_map - thresh_map, -1.0, 1.0)
    # BUG-20251110-002: Use sigmoid, whose gradient cannot overflow, instead of reciprocal + exp
    # (k scales the clamped gap in place: hardtanh keeps its input for the backward pass, not this)
    return torch.sigmoid(gap.mul_(k))


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

    def forward(self, x: torch.Tensor, return_loss: bool = True) -> dict[str, torch.Tensor]:
        """Maps at [N, 1, H, W] for a fused feature map [N, C, H/4, W/4].

        BUG-20251110-002: the maps are checked for NaN and Inf before the step function, with one
        host sync here, or none inside the training step, which reads them back with its loss.
        """
        fuse = x
        prob_logits = self.binarize(fuse)  # [N, 1, H, W]
        prob_maps = torch.sigmoid(prob_logits)
        if not return_loss:
            return {"prob_maps": prob_maps}

        thresh = self.thresh(fuse)

        # BUG-20251110-002: Validate thresh map and prob maps before the step function; a finite P
        # and T give a finite B, so this also covers the step function's output
        check_finite("DBHead.forward", {"thresh map": thresh, "prob maps": prob_maps})

        thresh_binary = differentiable_binarization(prob_maps, thresh, self.k)
        return {
            "prob_logits": prob_logits,
            "prob_maps": prob_maps,
            "thresh_map": thresh,
            "binary_map": thresh_binary,
        }
