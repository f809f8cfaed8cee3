"""Finite-value checks cheap enough to leave on in every forward pass.

The common case, everything finite, costs one float32 sum per tensor and a single host
synchronisation for all of them: a sum is NaN or infinite whenever one of its terms is. Only when
that sum is not finite does the per-tensor diagnosis run (a sum of large finite values can overflow
too, so the diagnosis confirms before anyone raises)."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def find_non_finite(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the tensors that hold a NaN or an infinity, in the mapping's order."""
    if not tensors:
        return []
    sums = torch.stack([t.detach().sum(dtype=torch.float32) for t in tensors.values()])
    if bool(torch.isfinite(sums.sum())):  # the one host synchronisation
        return []
    return [name for name, t in tensors.items() if not bool(torch.isfinite(t).all())]


def describe(name: str, tensor: torch.Tensor) -> str:
    """Shape, dtype, device, NaN and Inf counts and the range of the finite values."""
    t = tensor.detach()
    finite = t[torch.isfinite(t)]
    value_range = f"[{finite.min().item():.6g}, {finite.max().item():.6g}]" if finite.numel() else "none finite"
    return (
        f"{name}: shape {tuple(t.shape)}, dtype {str(t.dtype).removeprefix('torch.')}, device {t.device}, "
        f"{int(torch.isnan(t).sum())} NaN, {int(torch.isinf(t).sum())} Inf, range {value_range}"
    )


def ensure_finite(tensors: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise ValueError naming `where` and describing every tensor that is not finite."""
    bad = find_non_finite(tensors)
    if bad:
        details = "; ".join(describe(name, tensors[name]) for name in bad)
        raise ValueError(f"{where}: NaN or Inf values in {', '.join(bad)} ({details})")
