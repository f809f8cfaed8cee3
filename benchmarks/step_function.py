"""Time the DB step function before and after BUG-20251110-002, and the cost of its checks.

    python benchmarks/step_function.py [--repeat 20] [--size 640] [--batch 8] [--threads N]

Prints, per device (the CPU, and CUDA where present), the median time of each variant's forward
pass and forward+backward pass on a (batch, 1, size, size) float32 batch, and its ratio to the
original formula measured in the same run. The validation rows compare the record's checks (two
`isnan/isinf().any()` passes per tensor) with the one-reduction check the fix uses, and relate the
fix's checks to the head's whole forward pass. The fix's targets: forward <= 1.0x and
forward+backward <= 0.8x of the original with its checks, and checks under 2% of the head."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from ocr.models.head.db_head import DBHead, differentiable_binarization
from ocr.models.numerics import check_finite

K = 50.0


def original(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.reciprocal(1 + torch.exp(-K * (x - y)))


def sigmoid_only(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(K * (x - y))


def record_checks(*tensors: torch.Tensor) -> bool:
    """The hand-written record's validation: isnan().any() and isinf().any(), one sync each."""
    return not any(bool(torch.isnan(t).any()) or bool(torch.isinf(t).any()) for t in tensors)


def isfinite_all(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def one_reduction(*tensors: torch.Tensor) -> bool:
    check_finite("benchmark", {str(i): t for i, t in enumerate(tensors)})
    return True


def clamped_inputs(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The record's version of the fix: both inputs clamped to [0, 1], then sigmoid."""
    return torch.sigmoid(K * (torch.clamp(x, 0.0, 1.0) - torch.clamp(y, 0.0, 1.0)))


def fixed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return differentiable_binarization(x, y, K)


def median_ms(fns: dict[str, Callable[[], object]], repeat: int, device: torch.device) -> dict[str, float]:
    """Median milliseconds of each function, timed in turns (a, b, c, a, b, c, ...) so that a slow
    patch of the machine weighs on every variant alike."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for fn in fns.values():
        for _ in range(2):
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_device(device: torch.device, batch: int, size: int, repeat: int) -> list[tuple[str, float, float]]:
    """Rows of (name, milliseconds, ratio to the baseline of its group)."""
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(batch, 1, size, size, device=device, generator=generator)
    y = torch.rand(batch, 1, size, size, device=device, generator=generator)
    head = DBHead(in_channels=64, k=K).to(device)

    def fixed_in_forward(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """As DBHead.forward runs it outside training: check both maps (one sync), then the step.
        In training the same reductions run, and their sync is the training step's own."""
        check_finite("benchmark", {"thresh map": b, "prob maps": a})
        return fixed(a, b)

    def forward_backward(step: Callable) -> Callable[[], None]:
        def run() -> None:
            a, b = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
            step(a, b).sum().backward()

        return run

    variants = [
        ("original 1/(1+exp(-k(x-y)))", original),
        ("sigmoid only", sigmoid_only),
        ("fixed, with its checks as in DBHead.forward", fixed_in_forward),
        ("fixed, alone", fixed),
        ("record's fix: both inputs clamped, sigmoid", clamped_inputs),
    ]
    rows = []
    with torch.no_grad():
        forward = median_ms({name: (lambda step=step: step(x, y)) for name, step in variants}, repeat, device)
    backward = median_ms({name: forward_backward(step) for name, step in variants}, repeat, device)
    for label, measured in (("forward", forward), ("fwd+bwd", backward)):
        base = measured[variants[0][0]]
        rows += [(f"{label}: {name}", ms, ms / base) for name, ms in measured.items()]

    fuse = torch.randn(batch, 64, size // 4, size // 4, device=device, generator=generator)
    with torch.no_grad():
        thresh = head.thresh(fuse)
        prob = torch.sigmoid(head.binarize(fuse))
        result = fixed(prob, thresh)
        checks = {
            "head forward (whole, with its checks)": lambda: head(fuse),
            "checks: record: isnan+isinf .any(), 3 tensors": lambda: record_checks(thresh, prob, result),
            "checks: isfinite().all(), 3 tensors": lambda: isfinite_all(thresh, prob, result),
            "checks: fix: aminmax, 3 tensors, 1 sync": lambda: one_reduction(thresh, prob, result),
            "checks: fix as in DBHead.forward (2 maps, 1 sync)": lambda: one_reduction(thresh, prob),
        }
        measured = median_ms(checks, repeat, device)
    head_ms = measured["head forward (whole, with its checks)"]
    rows += [(name, ms, ms / head_ms) for name, ms in measured.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        name = (
            torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
        )
        print(
            f"\n{device.type} ({name}); batch ({args.batch}, 1, {args.size}, {args.size}) float32; median of "
            f"{args.repeat}"
        )
        print(f"{'variant':<52} {'ms':>9} {'ratio':>7}")
        print("-" * 70)
        for label, ms, ratio in bench_device(device, args.batch, args.size, args.repeat):
            print(f"{label:<52} {ms:>9.3f} {ratio:>7.3f}")
    print("\nratio: forward rows against the original's forward, fwd+bwd rows against the original's fwd+bwd,")
    print("check rows against the head's whole forward pass.")


if __name__ == "__main__":
    main()
