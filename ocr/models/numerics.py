"""Finite-value checks cheap enough to leave on in every training step (BUG-20251110-002).

A check costs one min/max reduction per tensor: `torch.aminmax` propagates NaN, and an infinity is
its own extreme, so the extremes are finite exactly when every value is. Outside training a check
reads its extremes back at once, one host synchronisation per call. Inside `deferred_checks()`,
which the training step opens around its forward pass and its loss, a check only queues its
reductions: the step reads them back in the one synchronisation it makes anyway (for the loss and
the gradient norm) and raises the same ValueError from there, before the optimizer moves a weight.
On a GPU that keeps the device busy: reading a value back waits for every kernel queued before it.
The detailed diagnosis (counts and ranges for the message) runs only when a value is not finite."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch


def describe(name: str, tensor: torch.Tensor) -> str:
    """Shape, dtype, device, NaN and Inf counts and the range of the finite values."""
    t = tensor.detach()
    finite = t[torch.isfinite(t)]
    value_range = f"[{finite.min().item():.6g}, {finite.max().item():.6g}]" if finite.numel() else "none finite"
    return (
        f"{name}: shape {tuple(t.shape)}, dtype {str(t.dtype).removeprefix('torch.')}, device {t.device}, "
        f"{int(torch.isnan(t).sum())} NaN, {int(torch.isinf(t).sum())} Inf, range {value_range}"
    )


@dataclass(frozen=True)
class FiniteCheck:
    """Tensors that must be finite, the place that asks (`where`, the message's first words), and
    extra detail computed only when the check fails."""

    where: str
    tensors: Mapping[str, torch.Tensor]
    context: Callable[[], str] | None = None

    @classmethod
    def of(cls, where: str, tensors: Mapping[str, torch.Tensor], context: Callable[[], str] | None = None) -> FiniteCheck:
        """A check of the non-empty tensors among `tensors`, detached: checking reads, never trains."""
        return cls(where, {name: t.detach() for name, t in tensors.items() if t.numel()}, context)

    def extremes(self) -> torch.Tensor:
        """[len(tensors), 2] float32 (min, max) per tensor, on the tensors' device; no host sync."""
        return torch.stack([torch.stack(torch.aminmax(t)).float() for t in self.tensors.values()])

    def error(self, extremes: Sequence[Sequence[float]]) -> ValueError | None:
        """The ValueError naming and describing every tensor whose extremes are not finite."""
        bad = [name for name, (low, high) in zip(self.tensors, extremes) if not (math.isfinite(low) and math.isfinite(high))]
        if not bad:
            return None
        details = "; ".join(describe(name, self.tensors[name]) for name in bad)
        if self.context is not None:
            details += f"; {self.context()}"
        return ValueError(f"{self.where}: NaN or Inf values in {', '.join(bad)} ({details})")


@dataclass
class FiniteChecks:
    """Checks read back together: those queued during one training step, or one call's."""

    checks: list[FiniteCheck] = field(default_factory=list)

    def extremes(self) -> torch.Tensor | None:
        """Every check's (min, max) pairs, flattened into one float32 tensor; no host sync."""
        return torch.cat([check.extremes().flatten() for check in self.checks]) if self.checks else None

    def raise_first_error(self, extremes: Sequence[float]) -> None:
        """Given `extremes()` read back, raise the error of the first check (in order) that fails."""
        pairs = [extremes[i : i + 2] for i in range(0, len(extremes), 2)]
        offset = 0
        for check in self.checks:
            error = check.error(pairs[offset : offset + len(check.tensors)])
            if error is not None:
                raise error
            offset += len(check.tensors)


_pending: ContextVar[FiniteChecks | None] = ContextVar("pending_finite_checks", default=None)


@contextmanager
def deferred_checks() -> Iterator[FiniteChecks]:
    """Queue the checks asked for in this block (by `run_checks`) instead of running them."""
    checks = FiniteChecks()
    token = _pending.set(checks)
    try:
        yield checks
    finally:
        _pending.reset(token)


def run_checks(checks: Sequence[FiniteCheck], *scalars: torch.Tensor) -> list[float] | None:
    """Queue the checks inside `deferred_checks()` and return None; otherwise run them now and
    return the values of `scalars`, read back in the same single host sync. The first failing
    check raises its ValueError either way: here, or from the training step's sync."""
    batch = FiniteChecks([check for check in checks if check.tensors])
    pending = _pending.get()
    if pending is not None:
        pending.checks.extend(batch.checks)
        return None
    extremes = batch.extremes()
    parts = ([] if extremes is None else [extremes]) + [s.detach().float().reshape(1) for s in scalars]
    readback = torch.cat(parts).tolist() if parts else []  # the one host sync
    checked = len(readback) - len(scalars)
    batch.raise_first_error(readback[:checked])
    return readback[checked:]


def check_finite(where: str, tensors: Mapping[str, torch.Tensor], context: Callable[[], str] | None = None) -> None:
    """Raise ValueError naming `where` and describing every tensor that holds NaN or Inf: now, with
    one host sync, or inside `deferred_checks()` at the training step's sync. Empty tensors pass."""
    run_checks([FiniteCheck.of(where, tensors, context)])
