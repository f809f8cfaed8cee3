"""BUG-20251110-002: the tests of the bug report's checklist, each named after its item.

`reference_step` is the original formula, kept here as what the fix is measured against. The
tests exercise the real `differentiable_binarization`, `DBHead` and `DiceLoss`, and `tracer prove`
runs them on the pre-fix revision too, so they reach the code under test in a way both revisions
have: the pre-fix head has no `differentiable_binarization`, only its `_step_function`, and its
`train` refuses float16 on the CPU (see `tests/ocr/conftest.py`). What a test can and cannot show
on the pre-fix code is written in the report's Notes."""

from __future__ import annotations

import ast
import io
import logging
import math
import re
import tokenize
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ocr.models.dbnet import DBNet
from ocr.models.head import db_head
from ocr.models.head.db_head import DBHead
from ocr.models.loss.dice_loss import DiceLoss
from ocr.train import TrainConfig, train

BUG = "BUG-20251110-002"
K = 50.0
ROOT = Path(__file__).resolve().parents[2]
verifies = pytest.mark.verifies
Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def reference_step(x: torch.Tensor, y: torch.Tensor, k: float = K) -> torch.Tensor:
    """The pre-fix formula, 1 / (1 + exp(-k (x - y)))."""
    return torch.reciprocal(1 + torch.exp(-k * (x - y)))


def binarization() -> Step:
    """The step function under test: the public function, or the pre-fix head's method."""
    public = getattr(db_head, "differentiable_binarization", None)
    if public is not None:
        return lambda x, y: public(x, y, K)
    return DBHead(16, k=K)._step_function  # the pre-fix revision


def use_original_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make DBHead binarize with the pre-fix formula (the pre-fix head already does)."""
    if hasattr(db_head, "differentiable_binarization"):
        monkeypatch.setattr(db_head, "differentiable_binarization", reference_step)


def grad_of_step(step: Step, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    y = y.clone().requires_grad_(True)
    step(x, y).sum().backward()
    assert x.grad is not None and y.grad is not None
    return x.grad, y.grad


def as_after_some_training(model: DBNet | DBHead) -> DBNet | DBHead:
    """Bias the head's two branches to where a few training steps take them on background pixels,
    P ~ 0.02 against T ~ 0.3: a gap of about -0.28, past float16's overflow point of -0.2218."""
    head = model.head if isinstance(model, DBNet) else model
    with torch.no_grad():
        head.binarize[-1].bias.fill_(-4.0)
        head.thresh_logits[-1].bias.fill_(-0.85)
    return model


def non_finite_gradients(model: torch.nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]


# Unit tests


@verifies(BUG, "step-edge-cases")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["float32", "float16"])
@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [(0.0, 0.0, 0.5), (1.0, 1.0, 0.5), (0.3, 0.3, 0.5), (1.0, 0.0, 1.0), (0.0, 1.0, 0.0)],
    ids=["x=y=0", "x=y=1", "x=y", "x=1,y=0", "x=0,y=1"],
)
def test_step_edge_cases(x, y, expected, dtype):
    xs, ys = torch.tensor([x], dtype=dtype), torch.tensor([y], dtype=dtype)
    step = binarization()
    value = step(xs, ys)
    assert value.dtype == dtype
    assert value.item() == pytest.approx(expected, abs=1e-12)
    gx, gy = grad_of_step(step, xs, ys)
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all(), (gx, gy)  # x=0, y=1: NaN before the fix
    assert gx.item() == pytest.approx(-gy.item())  # d/dx = -d/dy: it depends on x - y only


@verifies(BUG, "step-gradient")
def test_step_gradient_gradcheck_in_float64():
    generator = torch.Generator().manual_seed(0)
    x = (0.05 + 0.9 * torch.rand(4, 1, 6, 6, generator=generator, dtype=torch.float64)).requires_grad_(True)
    y = (0.05 + 0.9 * torch.rand(4, 1, 6, 6, generator=generator, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(binarization(), (x, y), eps=1e-6, atol=1e-5)


@verifies(BUG, "step-gradient")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_step_gradient_in_half_precision(dtype):
    """gradcheck needs float64; in half precision the gradient is compared with its analytic form
    k B (1 - B), over every gap x - y a pair of maps in [0, 1] can have."""
    x = torch.linspace(0, 1, 201).to(dtype)
    y = torch.linspace(1, 0, 201).to(dtype)  # x - y from -1 to 1
    gx, gy = grad_of_step(binarization(), x, y)
    assert torch.isfinite(gx).all(), f"{int(torch.isnan(gx).sum())} NaN gradients"  # float16: NaN before the fix
    s = torch.sigmoid(K * (x.double() - y.double()))
    torch.testing.assert_close(gx.double(), K * s * (1 - s), atol=0.02 * K / 4, rtol=0.02)
    torch.testing.assert_close(gy, -gx)


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
def test_train_400_steps_float32(float32_run):
    assert [r.step for r in float32_run.history] == list(range(1, 401))
    assert all(math.isfinite(r.grad_norm) for r in float32_run.history)


@verifies(BUG, "train-200-steps")
def test_train_200_steps_bfloat16_autocast(bfloat16_run):
    assert len(bfloat16_run.history) == 200
    assert all(math.isfinite(r.grad_norm) for r in bfloat16_run.history)


@verifies(BUG, "train-200-steps")
def test_train_200_steps_float16_autocast_on_the_cpu(float16_run):
    assert float16_run.error is None, float16_run.error  # before the fix: NaN gradients at step 1
    assert len(float16_run.history) == 200
    assert all(math.isfinite(r.grad_norm) for r in float16_run.history)


@verifies(BUG, "no-cuda-errors")
@pytest.mark.cuda
def test_no_cuda_errors_in_float16_autocast_training():
    """CUDA autocast runs exp in float32, so this passed before the fix too; the half-precision
    tests below are the ones where the original formula overflows on CUDA."""
    result = train(TrainConfig(steps=200, batch_size=8, precision="float16", device="cuda", eval_samples=0))
    torch.cuda.synchronize()  # surface any asynchronous CUDA error here
    assert len(result.history) == 200
    assert all(math.isfinite(r.loss) for r in result.history)
    skipped = [r.step for r in result.history if not math.isfinite(r.grad_norm)]
    assert len(skipped) <= 20, skipped  # the loss scaler finds its scale in its first steps


@verifies(BUG, "no-cuda-errors")
@pytest.mark.cuda
@pytest.mark.parametrize("part", ["head", "model"])
def test_no_cuda_errors_in_a_half_precision_model(part):
    """A `.half()` model on CUDA: exp runs in float16, where the original formula overflowed."""
    torch.manual_seed(0)
    module = as_after_some_training(DBHead(16, k=K) if part == "head" else DBNet()).half().cuda()
    shape = (2, 16, 16, 16) if part == "head" else (2, 3, 64, 64)
    outputs = module(torch.rand(shape, dtype=torch.float16, device="cuda"))
    outputs["binary_map"].float().mean().backward()
    torch.cuda.synchronize()
    assert torch.isfinite(outputs["binary_map"]).all()
    assert not non_finite_gradients(module)


@verifies(BUG, "finite-loss")
@pytest.mark.parametrize("run", ["float32_run", "bfloat16_run", "float16_run"])
def test_finite_loss(run, request):
    result = request.getfixturevalue(run)
    assert getattr(result, "error", None) is None, result.error
    losses = [r.loss for r in result.history]
    assert all(math.isfinite(v) for v in losses)
    assert all(math.isfinite(v) for r in result.history for v in r.terms.values())
    assert sum(losses[-20:]) < 0.6 * sum(losses[:20])  # and it learns


@verifies(BUG, "grad-norm-range")
@pytest.mark.parametrize("run", ["float32_run", "bfloat16_run", "float16_run"])
def test_grad_norm_range(run, request):
    # Measured: 1.2 to 20 over the three runs here, 0.7 to 26 over the float32 runs of the report's
    # eight seeds; the bounds leave headroom on both sides.
    result = request.getfixturevalue(run)
    assert getattr(result, "error", None) is None, result.error
    norms = [r.grad_norm for r in result.history]
    assert len(norms) >= 200
    assert all(0.05 < n < 100 for n in norms), (min(norms), max(norms))


# Regression tests


@verifies(BUG, "sigmoid-equivalence")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_sigmoid_equivalence(dtype):
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 100_000, generator=generator).to(dtype)
    step = binarization()
    expected = reference_step(x, y)
    assert torch.isfinite(expected).all()
    tolerance = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 1e-3}[dtype]
    torch.testing.assert_close(step(x, y), expected, atol=tolerance, rtol=0)
    # and the gradients, wherever the original's gradient is finite
    reference_grad, _ = grad_of_step(reference_step, x, y)
    grad, _ = grad_of_step(step, x, y)
    finite = torch.isfinite(reference_grad)
    assert finite.float().mean() > 0.5
    torch.testing.assert_close(grad[finite], reference_grad[finite], atol=tolerance * K, rtol=tolerance * 10)


@verifies(BUG, "validation-metrics")
def test_validation_metrics(float32_run):
    # Seed 0 scores hmean 1.00 (199 of 199 boxes) on its 128 held-out images at one thread. Over the
    # eight seeds of the report's table the lowest is 0.963 and the spread 0.037; the bound sits
    # below the lowest seed by more than the spread.
    score = float32_run.score
    assert score is not None and score.expected == 199
    assert score.hmean >= 0.90, score


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
        if any(t.numel() >= self.map_numel for t in tensors) and func.overloadpacket.__name__ not in (
            "detach",
            "expand",
        ):
            self.passes[func.overloadpacket.__name__] += 1
        return out


def map_passes(step: Step, x: torch.Tensor, y: torch.Tensor) -> Counter[str]:
    x = x.clone().requires_grad_(True)
    y = y.clone().requires_grad_(True)
    with MapPassCounter(x.numel()) as counter:
        step(x, y).sum().backward()
    return counter.passes


@verifies(BUG, "no-perf-degradation")
def test_no_perf_degradation_in_operators():
    """The fixed step function with the checks DBHead runs (one min/max reduction per map) makes
    fewer whole-map passes, forward and backward, than the original formula."""
    x, y = torch.rand(2, 1, 1, 32, 32)
    step = binarization()

    def step_with_checks(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        torch.aminmax(a.detach()), torch.aminmax(b.detach())
        return step(a, b)

    original = map_passes(reference_step, x, y)
    fixed = map_passes(step_with_checks, x, y)
    assert sum(fixed.values()) < sum(original.values()), (fixed, original)
    assert "exp" not in fixed and "reciprocal" not in fixed


class HostSyncCounter(TorchDispatchMode):
    """Counts the reads of a tensor's value into Python: `.item()`, `bool()` and `int()` dispatch
    `_local_scalar_dense`; `.tolist()` and `.numpy()` dispatch nothing and are counted by wrapping
    them. On a GPU each of these waits for the device; `host_side` names the storages that live on
    the host whatever the device (an optimizer's step counters), whose reads wait for nothing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, host_side: set[int]) -> None:
        super().__init__()
        self.host_side = host_side
        self.reads: list[str] = []
        for name in ("tolist", "numpy"):
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, __original=original, __name=name, **kwargs):
                self.reads.append(__name)
                return __original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if (
            func.overloadpacket.__name__ == "_local_scalar_dense"
            and args[0].untyped_storage().data_ptr() not in self.host_side
        ):
            self.reads.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@verifies(BUG, "no-perf-degradation")
@pytest.mark.parametrize("precision", ["float32", "bfloat16", "float16"])
def test_one_host_sync_per_training_step(monkeypatch, precision):
    """The checks in DBHead.forward and DiceLoss cost no host sync in training: the step reads them
    back with its loss and gradient norm, once, loss scaling included. Adam keeps its step counters
    on the host (CPU tensors beside CUDA weights): reading them waits for nothing, so they are not
    counted; it creates them in its first step, which runs before the counted ones."""
    from ocr.data.synthetic import SyntheticTextDataset, collate
    from ocr.models.loss.db_loss import DBLoss
    from ocr.train import train_step  # not in the pre-fix revision, which syncs several times a step

    torch.manual_seed(0)
    model, criterion = DBNet(), DBLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # A scale of 1: a first step skipped for a too high scale would leave Adam without its state.
    scaler = torch.amp.GradScaler("cpu", init_scale=1.0, enabled=precision == "float16")
    batch = collate([SyntheticTextDataset(2, seed=0)[i] for i in range(2)])
    train_step(1, model, criterion, optimizer, scaler, batch, precision)
    host_side = {state["step"].untyped_storage().data_ptr() for state in optimizer.state.values()}
    assert len(host_side) == len(list(model.parameters()))
    for step in (2, 3):
        with HostSyncCounter(monkeypatch, host_side) as counter:
            record = train_step(step, model, criterion, optimizer, scaler, batch, precision)
        monkeypatch.undo()
        assert math.isfinite(record.grad_norm)
        assert counter.reads == ["tolist"]


# Reproduction tests


@verifies(BUG, "overflow-reproduced")
def test_overflow_reproduced_in_float16():
    x = torch.tensor([0.0, 0.1, 0.5, 0.7], dtype=torch.float16)
    y = torch.tensor([1.0, 0.4, 0.5, 0.4], dtype=torch.float16)  # x - y = -1, -0.3, 0, 0.3
    reference_grad, _ = grad_of_step(reference_step, x, y)
    assert torch.isnan(reference_grad[:2]).all()  # the original overflows where x - y <= -0.2218
    fixed_grad, _ = grad_of_step(binarization(), x, y)
    assert torch.isfinite(fixed_grad).all()


@verifies(BUG, "overflow-reproduced")
def test_overflow_reproduced_on_unbounded_float32_inputs():
    x = torch.tensor([-1.0, 0.0, 0.2])
    y = torch.tensor([1.0, 2.0, 0.5])  # x - y = -2, -2, -0.3
    reference_grad, _ = grad_of_step(reference_step, x, y)
    assert torch.isnan(reference_grad[:2]).all()  # float32 overflows for x - y <= -1.774
    fixed_grad, _ = grad_of_step(binarization(), x, y)
    assert torch.isfinite(fixed_grad).all()


def half_model_gradients() -> list[str]:
    """Names of the parameters with non-finite gradients after one float16 forward and backward
    pass of a `.half()` DBNet on the CPU, with the head where training takes it."""
    torch.manual_seed(0)
    model = as_after_some_training(DBNet()).half()
    outputs = model(torch.rand(2, 3, 64, 64, dtype=torch.float16))
    assert all(torch.isfinite(value).all() for value in outputs.values())  # the forward pass shows nothing
    outputs["binary_map"].float().mean().backward()
    return non_finite_gradients(model)


@verifies(BUG, "overflow-reproduced")
def test_overflow_reproduced_through_the_whole_model_in_float16(monkeypatch):
    with monkeypatch.context() as patch:
        use_original_formula(patch)
        assert half_model_gradients(), "the original formula should give NaN gradients here"
    bad = half_model_gradients()
    assert not bad, f"non-finite gradients in {bad}"


# Validation checklist


@dataclass(frozen=True)
class Scope:
    """A module, class or function under ocr/ and how it names the bug."""

    path: str
    name: str
    line: int
    comment_tag: bool  # a `# BUG-...` comment among its own lines (not those of a nested scope)
    docstring_tag: bool  # the ID in its docstring
    enclosing_docstring_tag: bool  # the ID in the docstring of a scope around it
    uses: frozenset[str]  # the names it reads (functions only)


def scopes_of(path: Path) -> list[Scope]:
    """The scopes of one file, read from its source: no git history needed."""
    source = path.read_text()
    module = ast.parse(source)
    comment_lines = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT and token.string.lstrip("# ").startswith(BUG)
    }
    relative = path.relative_to(ROOT).as_posix()
    found: list[Scope] = []

    def visit(
        node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, name: str, outer_tag: bool
    ) -> set[int]:
        """Record `node` and its nested scopes; return the lines they cover."""
        docstring_tag = BUG in (ast.get_docstring(node) or "")
        nested_lines: set[int] = set()
        for child in _direct_scopes(node):
            nested_lines |= visit(child, f"{name}.{child.name}" if name else child.name, outer_tag or docstring_tag)
        first, last = (
            (1, len(source.splitlines()))
            if isinstance(node, ast.Module)
            else (node.lineno, node.end_lineno or node.lineno)
        )
        own = {n for n in comment_lines if first <= n <= last} - nested_lines
        uses: frozenset[str] = frozenset()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            uses = frozenset(
                {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                | {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            )
        found.append(Scope(relative, name or "<module>", first, bool(own), docstring_tag, outer_tag, uses))
        return set(range(first, last + 1))

    visit(module, "", False)
    return found


def _direct_scopes(node: ast.AST) -> list[ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef]:
    """The classes and functions directly inside `node` (not inside another of them)."""
    direct: list[ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            direct.append(child)
        else:
            stack.extend(ast.iter_child_nodes(child))
    return direct


def ocr_scopes() -> list[Scope]:
    return [scope for path in sorted((ROOT / "ocr").rglob("*.py")) for scope in scopes_of(path)]


def report_path() -> Path:
    reports = sorted((ROOT / "docs" / "bug_reports").glob(f"{BUG.lower()}-*.md"))
    return next(path for path in reports if not path.name.endswith("-code-changes.md"))


def solution_scopes() -> list[tuple[str, str]]:
    """(qualified name, path) of each change the report's Solution lists as a bullet that starts
    "- `Name` in `ocr/...py`"."""
    body = report_path().read_text(encoding="utf-8")
    solution = body.split("\n## Solution\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([A-Za-z_][\w.]*)` in `(ocr/[\w/]+\.py)`", solution, flags=re.MULTILINE)


@verifies(BUG, "indexed-with-bug-id")
def test_indexed_with_bug_id():
    """Read from the code and the report, so it runs in a shallow clone without history:
    every change the report's Solution lists is a scope under ocr/ that carries the tag, and every
    function that uses the fix's entry points (the public names of a module whose docstring names
    the bug, and the public functions and classes whose docstring does) carries it too."""
    scopes = ocr_scopes()
    listed = solution_scopes()
    assert len(listed) >= 5, listed
    by_place = {(scope.name, scope.path): scope for scope in scopes}
    missing = [f"{path}: {name}" for name, path in listed if (name, path) not in by_place]
    assert not missing, f"the report's Solution lists changes that are not in the code: {missing}"
    untagged_listed = [f"{path}: {name}" for name, path in listed if not _tagged(by_place[name, path])]
    assert not untagged_listed, f"listed in the Solution but without a {BUG} tag: {untagged_listed}"

    entry_points = {
        scope.name
        for scope in scopes
        if "." not in scope.name
        and scope.name != "<module>"
        and not scope.name.startswith("_")
        and (scope.docstring_tag or scope.enclosing_docstring_tag)
    }
    untagged = [
        f"{scope.path}:{scope.line} {scope.name} uses {sorted(scope.uses & entry_points)}"
        for scope in scopes
        if scope.uses & entry_points and not _tagged(scope)
    ]
    assert not untagged, f"uses the fix without a {BUG} tag: {untagged}"


def _tagged(scope: Scope) -> bool:
    return scope.comment_tag or scope.docstring_tag or scope.enclosing_docstring_tag


@verifies(BUG, "lowercase-filenames")
def test_lowercase_filenames():
    """Every file and folder the fix touches or adds, whatever its kind: code, tests, benchmarks
    and the bug's documents."""
    tops = [ROOT / "ocr", ROOT / "tests", ROOT / "benchmarks", ROOT / "docs" / "bug_reports"]
    paths = [p for top in tops for p in top.rglob("*") if "__pycache__" not in p.parts and not p.name.startswith(".")]
    assert any(p.suffix == ".py" for p in paths)
    offenders = [p.relative_to(ROOT).as_posix() for p in paths if not re.fullmatch(r"[a-z0-9_.\-]+", p.name)]
    assert not offenders


@verifies(BUG, "error-messages")
def test_error_messages(monkeypatch):
    head = DBHead(16)
    monkeypatch.setattr(head, "thresh", lambda fuse: torch.full((1, 1, 8, 8), float("nan")))
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


@verifies(BUG, "error-messages")
def test_error_messages_from_the_training_step(monkeypatch):
    """In training the checks run at the step's one host sync, and raise the same ValueError."""
    from ocr.data.synthetic import SyntheticTextDataset, collate
    from ocr.models.loss.db_loss import DBLoss
    from ocr.train import train_step  # not in the pre-fix revision

    model = DBNet()
    nan_thresh = torch.full((2, 1, 64, 64), float("nan"))
    monkeypatch.setattr(model.head, "thresh", lambda fuse: nan_thresh)
    optimizer = torch.optim.Adam(model.parameters())
    batch = collate([SyntheticTextDataset(2, seed=0)[i] for i in range(2)])
    with pytest.raises(ValueError) as raised:
        train_step(1, model, DBLoss(), optimizer, torch.amp.GradScaler("cpu", enabled=False), batch)
    with pytest.raises(ValueError) as outside_training:
        model(batch["image"])
    assert str(raised.value) == str(outside_training.value)
    assert str(raised.value).startswith(
        "DBHead.forward: NaN or Inf values in thresh map (thresh map: shape (2, 1, 64, 64)"
    )
    assert "8192 NaN" in str(raised.value)
    assert optimizer.state == {}  # raised before the optimizer moved a weight


@verifies(BUG, "train-200-steps", "error-messages")
def test_a_step_the_loss_scaler_skips_is_told_apart_from_a_nan_of_the_model():
    """float16 training with loss scaling overflows its scaled backward pass from time to time:
    above scale 1 that step is one the scaler skips (the norm comes back as inf, training goes
    on); at scale 1 or below the scaling cannot be the cause, and the error names the parameter
    and the scale. `tracer prove --changes` found no other linked test reaching these lines: the
    seeded runs never overflow."""
    from ocr.train import NonFiniteError, check_step_finite

    model = torch.nn.Linear(2, 1)
    model.weight.grad = torch.tensor([[float("inf"), 1.0]])
    model.bias.grad = torch.zeros(1)
    terms = {"loss": torch.tensor(0.5)}
    values, norm = check_step_finite(1, terms, model, scaler=torch.amp.GradScaler("cpu", init_scale=2.0**16))
    assert values == {"loss": 0.5} and norm == math.inf

    with pytest.raises(
        NonFiniteError,
        match=r"^step 1: gradient of 'weight' is not finite \(0 NaN and 1 Inf of 2 values, at loss scale 1\)$",
    ):
        check_step_finite(1, terms, model, scaler=torch.amp.GradScaler("cpu", init_scale=1.0))


@verifies(BUG, "docstrings-reference-bug")
def test_docstrings_reference_bug():
    """Every module, class or function under ocr/ with a tag comment for the bug says in its
    docstring why it changed, naming the bug."""
    scopes = ocr_scopes()
    tagged = [scope for scope in scopes if scope.comment_tag or scope.docstring_tag]
    assert len(tagged) >= 5, f"only {len(tagged)} scopes under ocr/ name {BUG}"
    missing = [f"{s.path}:{s.line} {s.name}" for s in tagged if s.comment_tag and not s.docstring_tag]
    assert not missing, f"tagged, but the docstring does not name {BUG}: {missing}"


@verifies(BUG, "math-correctness")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_math_correctness(dtype):
    """Symmetry, monotonicity and the analytic gradient dB/dx = k B (1 - B), over the whole square
    of maps in [0, 1], in float64 and in float16 (where the original's gradient was NaN)."""
    grid = torch.linspace(0, 1, 101, dtype=dtype)
    x, y = torch.meshgrid(grid, grid, indexing="ij")
    x, y = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    step = binarization()
    s = step(x, y)
    tolerance = {"atol": 1e-3, "rtol": 1e-3} if dtype == torch.float16 else {}
    torch.testing.assert_close(s + step(y, x), torch.ones_like(s), **tolerance)  # B(x, y) + B(y, x) = 1
    assert (s.diff(dim=0) >= 0).all() and (s.diff(dim=1) <= 0).all()  # rises with x, falls with y
    s.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    b = s.detach().double()
    torch.testing.assert_close(
        x.grad.double(),
        K * b * (1 - b),
        atol=0.05 if dtype == torch.float16 else 1e-7,
        rtol=0.02 if dtype == torch.float16 else 1e-7,
    )
