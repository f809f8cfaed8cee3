"""One seeded 200-step training run, shared by the tests that read its history."""

from __future__ import annotations

import pytest

from ocr.train import TrainConfig, TrainResult, train


@pytest.fixture(scope="session")
def float32_run() -> TrainResult:
    return train(TrainConfig(steps=200, batch_size=8, seed=0, precision="float32"))


@pytest.fixture(scope="session")
def bfloat16_run() -> TrainResult:
    return train(TrainConfig(steps=200, batch_size=4, seed=0, precision="bfloat16", eval_samples=0))
