"""Seeded training runs shared by the tests that read their history.

Each run is trained once per test session, even under pytest-xdist: the first worker to ask trains
it under a file lock and leaves the result beside the workers' temporary folders; the others read
it. Every run uses one thread, because a seed's result depends on the thread count.

This file runs on the pre-fix revision too (`tracer prove` copies the tests there), so it uses only
what both revisions have: `train`, `TrainConfig`, the model, the loss, the data and
`check_step_finite`."""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
import torch

from ocr.data.synthetic import SyntheticTextDataset, collate
from ocr.models.dbnet import DBNet
from ocr.models.loss.db_loss import DBLoss
from ocr.train import NonFiniteError, StepRecord, TrainConfig, TrainResult, check_step_finite, train

T = TypeVar("T")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The `cuda` marker (pyproject.toml) skips a test cleanly where no CUDA device is present."""
    if item.get_closest_marker("cuda") and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")


@pytest.fixture(scope="session")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session sees (the parent of the workers' own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_session(folder: Path, name: str, make: Callable[[], T]) -> T:
    """`make()`'s result, computed by the first worker that asks and read back by the others."""
    path = folder / f"{name}.pickle"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            result: T = pickle.loads(path.read_bytes())
            return result
        result = make()
        path.write_bytes(pickle.dumps(result))
        return result


def one_thread(make: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return make()
        finally:
            torch.set_num_threads(threads)

    return run


@dataclass
class HalfPrecisionRun:
    """The history of a float16 run, and the error that stopped it, if one did."""

    history: list[StepRecord] = field(default_factory=list)
    error: str | None = None


def train_float16_on_cpu(steps: int, batch_size: int, seed: int = 0, learning_rate: float = 5e-3) -> HalfPrecisionRun:
    """Train under CPU float16 autocast, where `exp` runs in float16 as in a `.half()` model.

    Written here from the model, the loss and the step check rather than through `train`, whose
    pre-fix version refuses float16 on the CPU: so `tracer prove` runs it on the pre-fix revision,
    where it stops at the first NaN gradient, instead of failing on a refused option. No loss
    scaling: the loss is of order 1 and the weights stay float32, so nothing here overflows
    except what the model's own backward pass does."""
    torch.manual_seed(seed)
    model, criterion = DBNet(), DBLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    dataset = SyntheticTextDataset(steps * batch_size, seed=seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    run = HalfPrecisionRun()
    model.train()
    for step, batch in enumerate(loader, start=1):
        with torch.autocast("cpu", dtype=torch.float16):
            preds = model(batch["image"])
        terms = criterion(preds, batch)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        try:
            values, grad_norm = check_step_finite(step, terms, model)
        except NonFiniteError as error:
            run.error = str(error)
            break
        optimizer.step()
        loss = values.pop("loss")
        run.history.append(StepRecord(step, loss, grad_norm, values))
    return run


@pytest.fixture(scope="session")
def float32_run(shared_folder: Path) -> TrainResult:
    """The seeded float32 run whose score the report's table bounds (400 steps, 128 images)."""
    config = TrainConfig(steps=400, batch_size=8, seed=0, precision="float32", eval_samples=128)
    return once_per_session(shared_folder, "float32_run", one_thread(lambda: train(config)))


@pytest.fixture(scope="session")
def bfloat16_run(shared_folder: Path) -> TrainResult:
    config = TrainConfig(steps=200, batch_size=4, seed=0, precision="bfloat16", eval_samples=0)
    return once_per_session(shared_folder, "bfloat16_run", one_thread(lambda: train(config)))


@pytest.fixture(scope="session")
def float16_run(shared_folder: Path) -> HalfPrecisionRun:
    """200 steps of CPU float16 autocast, batch 2: float16 convolutions are slow on the CPU."""
    return once_per_session(shared_folder, "float16_run", one_thread(lambda: train_float16_on_cpu(200, 2)))
