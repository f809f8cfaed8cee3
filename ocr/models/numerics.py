"""Finite-value checks cheap enough to leave on in every forward pass (BUG-20251110-002).

The common case, everything finite, costs one min/max reduction per tensor and a single host
synchronisation for all of them: `torch.aminmax` propagates NaN, and an infinity is its own
extreme, so the extremes are finite exactly when every value is. The per-tensor diagnosis (counts
and ranges for the error message) runs only when they are not."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def value_ranges(tensors: Mapping[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """(min, max) of each non-empty tensor, NaN for both where it holds a NaN; one host sync."""
    named = {name: t.detach() for name, t in tensors.items() if t.numel()}
    if not named:
        return {}
    # BUG-20251110-002: One min/max reduction per tensor and one sync: aminmax propagates NaN
    extremes = torch.stack([torch.stack(torch.aminmax(t)).float() for t in named.values()]).tolist()
    return {name: (low, high) for name, (low, high) in zip(named, extremes)}


def is_finite_range(value_range: tuple[float, float]) -> bool:
    return math.isfinite(value_range[0]) and math.isfinite(value_range[1])


def combined_range(ranges: list[tuple[float, float]]) -> tuple[float, float]:
    """The range over several ranges; NaN if any holds a NaN (Python's min and max would drop it)."""
    lows, highs = zip(*ranges, strict=True) if ranges else ((0.0,), (0.0,))
    if any(math.isnan(v) for v in (*lows, *highs)):
        return (math.nan, math.nan)
    return min(lows), max(highs)


def value_range(*tensors: torch.Tensor) -> tuple[float, float]:
    """(min, max) over all the tensors, NaN if any holds a NaN; one host sync."""
    return combined_range(list(value_ranges({str(i): t for i, t in enumerate(tensors)}).values()))


def describe(name: str, tensor: torch.Tensor) -> str:
    """Shape, dtype, device, NaN and Inf counts and the range of the finite values."""
    t = tensor.detach()
    finite = t[torch.isfinite(t)]
    value_range = f"[{finite.min().item():.6g}, {finite.max().item():.6g}]" if finite.numel() else "none finite"
    return (
        f"{name}: shape {tuple(t.shape)}, dtype {str(t.dtype).removeprefix('torch.')}, device {t.device}, "
        f"{int(torch.isnan(t).sum())} NaN, {int(torch.isinf(t).sum())} Inf, range {value_range}"
    )


def ensure_finite(tensors: Mapping[str, torch.Tensor], where: str) -> tuple[float, float]:
    """Raise ValueError naming `where` and describing every tensor that is not finite; otherwise
    return the smallest and largest value over all the tensors."""
    ranges = value_ranges(tensors)
    bad = [name for name, value_range in ranges.items() if not is_finite_range(value_range)]
    if bad:
        details = "; ".join(describe(name, tensors[name]) for name in bad)
        raise ValueError(f"{where}: NaN or Inf values in {', '.join(bad)} ({details})")
    return combined_range(list(ranges.values()))
