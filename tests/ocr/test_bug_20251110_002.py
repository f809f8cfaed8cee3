"""BUG-20251110-002: one test per checklist item of the bug report, each named after its item.

`reference_step` is the original formula, kept here as the thing the fix is measured against; the
tests exercise the real `DBHead._step_function` and `DiceLoss`, so that run on the pre-fix revision
(`tracer prove`) the reproduction tests fail there and pass here."""

from __future__ import annotations

import ast
import logging
import math
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ocr.models.dbnet import DBNet
from ocr.models.head.db_head import DBHead
from ocr.models.loss.dice_loss import DiceLoss
from ocr.train import TrainConfig, train

BUG = "BUG-20251110-002"
K = 50.0
ROOT = Path(__file__).resolve().parents[2]
verifies = pytest.mark.verifies


def reference_step(x: torch.Tensor, y: torch.Tensor, k: float = K) -> torch.Tensor:
    """The pre-fix formula, 1 / (1 + exp(-k (x - y)))."""
    return torch.reciprocal(1 + torch.exp(-k * (x - y)))


def grad_of_step(step, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    y = y.clone().requires_grad_(True)
    step(x, y).sum().backward()
    return x.grad, y.grad


@pytest.fixture
def head() -> DBHead:
    return DBHead(in_channels=16, k=K)


# Unit tests


@verifies(BUG, "step-edge-cases")
@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [(0.0, 0.0, 0.5), (1.0, 1.0, 0.5), (0.3, 0.3, 0.5), (1.0, 0.0, 1.0), (0.0, 1.0, 0.0)],
    ids=["x=y=0", "x=y=1", "x=y", "x=1,y=0", "x=0,y=1"],
)
def test_step_edge_cases(head, x, y, expected):
    xs, ys = torch.tensor([x]), torch.tensor([y])
    value = head._step_function(xs, ys)
    assert value.item() == pytest.approx(expected, abs=1e-12)
    gx, gy = grad_of_step(head._step_function, xs, ys)
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all()
    assert gx.item() == pytest.approx(-gy.item())  # d/dx = -d/dy: it depends on x - y only


@verifies(BUG, "step-gradient")
def test_step_gradient(head):
    generator = torch.Generator().manual_seed(0)
    x = (0.05 + 0.9 * torch.rand(4, 1, 6, 6, generator=generator, dtype=torch.float64)).requires_grad_(True)
    y = (0.05 + 0.9 * torch.rand(4, 1, 6, 6, generator=generator, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(head._step_function, (x, y), eps=1e-6, atol=1e-5)


@verifies(BUG, "dice-degenerate")
def test_dice_degenerate(caplog):
    pred = torch.zeros(2, 8, 8, requires_grad=True)
    gt = torch.zeros(2, 8, 8)
    with caplog.at_level(logging.WARNING, logger="ocr.models.loss.dice_loss"):
        loss = DiceLoss()(pred, gt, torch.ones(2, 8, 8))
    assert loss.item() == 1.0
    assert "union" in caplog.text
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


@verifies(BUG, "dice-nan-input")
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_dice_nan_input(bad):
    pred = torch.rand(2, 8, 8)
    pred[1, 3, 4] = bad
    with pytest.raises(ValueError, match="DiceLoss"):
        DiceLoss()(pred, torch.ones(2, 8, 8), torch.ones(2, 8, 8))


# Integration tests


@verifies(BUG, "train-200-steps")
def test_train_200_steps_float32(float32_run):
    assert [r.step for r in float32_run.history] == list(range(1, 201))


@verifies(BUG, "train-200-steps")
def test_train_200_steps_bfloat16_autocast(bfloat16_run):
    assert len(bfloat16_run.history) == 200
    assert all(math.isfinite(r.grad_norm) for r in bfloat16_run.history)


@verifies(BUG, "no-cuda-errors")
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_cuda_errors():
    result = train(TrainConfig(steps=200, batch_size=8, precision="float16", device="cuda", eval_samples=0))
    torch.cuda.synchronize()  # surface any asynchronous CUDA error here
    assert len(result.history) == 200


@verifies(BUG, "finite-loss")
def test_finite_loss(float32_run, bfloat16_run):
    for run in (float32_run, bfloat16_run):
        losses = [r.loss for r in run.history]
        assert all(math.isfinite(v) for v in losses)
        assert all(math.isfinite(v) for r in run.history for v in r.terms.values())
        assert sum(losses[-20:]) < 0.6 * sum(losses[:20])  # and it learns


@verifies(BUG, "grad-norm-range")
def test_grad_norm_range(float32_run, bfloat16_run):
    # Measured on the seeded runs: norms between about 0.5 and 15; the bounds leave headroom.
    for run in (float32_run, bfloat16_run):
        norms = [r.grad_norm for r in run.history]
        assert all(0.01 < n < 100 for n in norms), (min(norms), max(norms))


# Regression tests


@verifies(BUG, "sigmoid-equivalence")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_sigmoid_equivalence(head, dtype):
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 100_000, generator=generator).to(dtype)
    expected = reference_step(x, y)
    assert torch.isfinite(expected).all()
    tolerance = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 1e-3}[dtype]
    torch.testing.assert_close(head._step_function(x, y), expected, atol=tolerance, rtol=0)


@verifies(BUG, "validation-metrics")
def test_validation_metrics(float32_run):
    # The seeded run scores hmean 0.89 (precision 1.00, recall 0.81 on 57 boxes) on this machine.
    score = float32_run.score
    assert score is not None and score.expected == 57
    assert score.hmean >= 0.80, score


class MapPassCounter(TorchDispatchMode):
    """Counts the operators that read or write a whole map: the memory-bound passes that decide the
    step function's time, whatever the machine's noise."""

    def __init__(self, map_numel: int) -> None:
        super().__init__()
        self.map_numel = map_numel
        self.passes: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in (*args, *(kwargs or {}).values(), out) if isinstance(t, torch.Tensor)]
        if any(t.numel() >= self.map_numel for t in tensors) and func.overloadpacket.__name__ not in ("detach", "expand"):
            self.passes[func.overloadpacket.__name__] += 1
        return out


def map_passes(step, x: torch.Tensor, y: torch.Tensor) -> Counter[str]:
    x = x.clone().requires_grad_(True)
    y = y.clone().requires_grad_(True)
    with MapPassCounter(x.numel()) as counter:
        step(x, y).sum().backward()
    return counter.passes


@verifies(BUG, "no-perf-degradation")
def test_no_perf_degradation(head):
    x, y = torch.rand(2, 1, 1, 32, 32)
    original = map_passes(reference_step, x, y)
    fixed = map_passes(head._step_function, x, y)  # with its own validation
    assert sum(fixed.values()) < sum(original.values()), (fixed, original)
    assert "exp" not in fixed


# Reproduction tests


@verifies(BUG, "overflow-reproduced")
def test_overflow_reproduced_in_float16(head):
    x = torch.tensor([0.0, 0.1, 0.5, 0.7], dtype=torch.float16)
    y = torch.tensor([1.0, 0.4, 0.5, 0.4], dtype=torch.float16)  # x - y = -1, -0.3, 0, 0.3
    reference_grad, _ = grad_of_step(reference_step, x, y)
    assert torch.isnan(reference_grad[:2]).all()  # the original overflows where x - y <= -0.2218
    fixed_grad, _ = grad_of_step(head._step_function, x, y)
    assert torch.isfinite(fixed_grad).all()


@verifies(BUG, "overflow-reproduced")
def test_overflow_reproduced_on_unbounded_float32_inputs(head):
    x = torch.tensor([-1.0, 0.0, 0.2])
    y = torch.tensor([1.0, 2.0, 0.5])  # x - y = -2, -2, -0.3
    reference_grad, _ = grad_of_step(reference_step, x, y)
    assert torch.isnan(reference_grad[:2]).all()  # float32 overflows for x - y <= -1.774
    fixed_grad, _ = grad_of_step(head._step_function, x, y)
    assert torch.isfinite(fixed_grad).all()


@verifies(BUG, "overflow-reproduced")
def test_overflow_reproduced_through_the_whole_model_in_float16():
    torch.manual_seed(0)
    model = DBNet().half()
    images = torch.rand(2, 3, 64, 64, dtype=torch.float16)
    outputs = model(images)
    (outputs["binary_map"].float().mean()).backward()
    bad = [name for name, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients in {bad}"


# Validation checklist


def changed_lines_since(revision: str, path: str) -> set[int]:
    """Line numbers in the work tree's `path` that differ from `revision`."""
    diff = subprocess.run(
        ["git", "diff", "-U0", revision, "--", path], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines: set[int] = set()
    for start, count in re.findall(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, flags=re.MULTILINE):
        lines.update(range(int(start), int(start) + int(count or 1)))
    return lines


def pre_fix_revision() -> str:
    report = next((ROOT / "docs" / "bug_reports").glob("bug-20251110-002-*[!s].md"))
    revision = re.search(r"^pre_fix_revision: (\w+)$", report.read_text(), flags=re.MULTILINE).group(1)
    known = subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=ROOT, capture_output=True)
    if known.returncode:
        pytest.skip(f"the pre-fix revision {revision} is not in this clone's history")
    return revision


@verifies(BUG, "indexed-with-bug-id")
def test_indexed_with_bug_id():
    """Every function changed or added under ocr/ since the pre-fix revision carries a tag."""
    revision = pre_fix_revision()
    untagged = []
    for path in sorted((ROOT / "ocr").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        changed = changed_lines_since(revision, relative)
        if not changed:
            continue
        source = path.read_text()
        lines = source.splitlines()
        module_tagged = BUG in (ast.get_docstring(ast.parse(source)) or "")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = range(node.lineno, node.end_lineno + 1)
                if changed.intersection(body) and not module_tagged:
                    if not any(BUG in lines[n - 1] for n in body):
                        untagged.append(f"{relative}:{node.lineno} {node.name}")
    assert not untagged, f"changed without a {BUG} tag: {untagged}"


@verifies(BUG, "lowercase-filenames")
def test_lowercase_filenames():
    files = [p for top in ("ocr", "tests", "benchmarks") for p in (ROOT / top).rglob("*.py")]
    assert files
    offenders = [p.relative_to(ROOT).as_posix() for p in files if not re.fullmatch(r"[a-z0-9_]+\.py", p.name)]
    assert not offenders


@verifies(BUG, "error-messages")
def test_error_messages(head):
    head.thresh = lambda fuse: torch.full((1, 1, 8, 8), float("nan"))  # type: ignore[method-assign]
    with pytest.raises(ValueError) as raised:
        head(torch.randn(1, 16, 2, 2))
    message = str(raised.value)
    assert "thresh map" in message and "shape (1, 1, 8, 8)" in message and "device cpu" in message
    assert "64 NaN" in message and "range" in message

    pred = torch.rand(1, 4, 4)
    pred[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"pred: shape \(1, 4, 4\).*1 Inf, range \[[\d.e-]+, [\d.e-]+\]"):
        DiceLoss()(pred, torch.ones(1, 4, 4), torch.ones(1, 4, 4))

    weights = torch.full((1, 4, 4), float("inf"))  # finite inputs, infinite weights: a NaN loss
    with pytest.raises(ValueError, match="intersection .* union"):
        DiceLoss()(torch.rand(1, 4, 4), torch.ones(1, 4, 4), torch.ones(1, 4, 4), weights)


@verifies(BUG, "docstrings-reference-bug")
def test_docstrings_reference_bug():
    for function in (DBHead._step_function, DiceLoss._compute):
        assert BUG in (function.__doc__ or ""), function.__qualname__


@verifies(BUG, "math-correctness")
def test_math_correctness(head):
    grid = torch.linspace(0, 1, 101, dtype=torch.float64)
    x, y = torch.meshgrid(grid, grid, indexing="ij")
    x, y = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    s = head._step_function(x, y)
    torch.testing.assert_close(s + head._step_function(y, x), torch.ones_like(s))  # B(x, y) + B(y, x) = 1
    assert (s.diff(dim=0) >= 0).all() and (s.diff(dim=1) <= 0).all()  # rises with x, falls with y
    s.sum().backward()
    torch.testing.assert_close(x.grad, K * s.detach() * (1 - s.detach()))  # dB/dx = k B (1 - B)
