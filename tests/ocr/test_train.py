"""The training loop's guard and command line: a value that is not finite stops training with
the step and the parameter named."""

from __future__ import annotations

import math

import pytest
import torch

from ocr.data.synthetic import SyntheticTextDataset, collate
from ocr.models.dbnet import DBNet
from ocr.models.loss.db_loss import DBLoss
from ocr.train import (
    NonFiniteError,
    StepRecord,
    TrainConfig,
    check_step_finite,
    main,
    train,
    train_step,
    validate_config,
)


def terms(loss: float = 1.0) -> dict[str, torch.Tensor]:
    return {
        "loss_prob": torch.tensor(0.5),
        "loss_thresh": torch.tensor(0.2),
        "loss_binary": torch.tensor(loss),
        "loss": torch.tensor(loss),
    }


def model_with_gradients() -> DBNet:
    model = DBNet()
    for parameter in model.parameters():
        parameter.grad = torch.ones_like(parameter)
    return model


def test_finite_step_returns_its_values_and_the_gradient_norm():
    model = model_with_gradients()
    values, norm = check_step_finite(7, terms(), model)
    assert values == {"loss_prob": 0.5, "loss_thresh": pytest.approx(0.2), "loss_binary": 1.0, "loss": 1.0}
    assert norm == pytest.approx(sum(p.numel() for p in model.parameters()) ** 0.5)


def test_a_nan_gradient_names_the_step_and_the_parameter():
    model = model_with_gradients()
    model.head.binarize[0].weight.grad[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError) as raised:
        check_step_finite(122, terms(), model)
    assert str(raised.value).startswith(
        "step 122: gradient of 'head.binarize.0.weight' is not finite (1 NaN and 0 Inf of"
    )
    assert raised.value.step == 122


def test_a_non_finite_loss_term_is_named_before_any_gradient():
    with pytest.raises(NonFiniteError, match="step 3: loss term 'loss_binary' is not finite"):
        check_step_finite(3, terms(float("inf")), model_with_gradients())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainConfig(precision="float64"), "precision must be one of"),
        (TrainConfig(steps=0), "steps, batch size and threads must be positive"),
        (TrainConfig(threads=0), "steps, batch size and threads must be positive"),
    ],
)
def test_bad_configurations_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        validate_config(config)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_device_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        validate_config(TrainConfig(device="cuda"))


def test_a_skipped_step_of_the_loss_scaler_is_not_an_error():
    """Non-finite gradients with the scale above 1: the scaler's overflow, expected; no update."""
    model = model_with_gradients()
    model.head.binarize[0].weight.grad[0, 0, 0, 0] = float("inf")
    values, norm = check_step_finite(9, terms(), model, scaler=torch.amp.GradScaler("cpu", init_scale=2.0**16))
    assert values["loss"] == 1.0 and norm == math.inf


def test_non_finite_gradients_at_loss_scale_1_are_a_real_nan():
    model = model_with_gradients()
    model.head.binarize[0].weight.grad[0, 0, 0, 0] = float("nan")
    with pytest.raises(
        NonFiniteError, match=r"^step 9: gradient of 'head.binarize.0.weight' .*1 NaN.*at loss scale 1\)$"
    ):
        check_step_finite(9, terms(), model, scaler=torch.amp.GradScaler("cpu", init_scale=1.0))


def float16_step(scaler: torch.amp.GradScaler) -> tuple[DBNet, StepRecord]:
    torch.manual_seed(0)
    model = DBNet()
    optimizer = torch.optim.Adam(model.parameters())
    batch = collate([SyntheticTextDataset(2, seed=0)[i] for i in range(2)])
    return model, train_step(1, model, DBLoss(), optimizer, scaler, batch, "float16")


def test_a_scale_too_high_for_float16_skips_the_step_and_halves_the_scale():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)  # the scaled backward overflows float16
    torch.manual_seed(0)
    before = [p.detach().clone() for p in DBNet().parameters()]
    model, record = float16_step(scaler)
    assert record.skipped and math.isfinite(record.loss)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no update
    assert scaler.get_scale() == 2.0**39


def test_a_scale_that_fits_updates_the_model():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    torch.manual_seed(0)
    before = [p.detach().clone() for p in DBNet().parameters()]
    model, record = float16_step(scaler)
    assert not record.skipped and math.isfinite(record.grad_norm)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_float16_training_with_the_original_formula_stops_once_the_scale_cannot_explain_it(monkeypatch):
    """The pre-fix step function in float16: NaN gradients at every scale, so the loss scaler halves
    its scale each step (2^16 down to 1), and then training stops, naming the parameter."""

    def original(x: torch.Tensor, y: torch.Tensor, k: float = 50.0) -> torch.Tensor:
        return torch.reciprocal(1 + torch.exp(-k * (x - y)))

    monkeypatch.setattr("ocr.models.head.db_head.differentiable_binarization", original)
    with pytest.raises(NonFiniteError, match=r"^step 17: gradient of .* NaN .*at loss scale 1\)$"):
        train(TrainConfig(steps=20, batch_size=2, precision="float16", eval_samples=0))


def test_float16_training_on_the_cpu_runs_with_loss_scaling():
    result = train(TrainConfig(steps=6, batch_size=2, precision="float16", eval_samples=0))
    assert len(result.history) == 6 and all(math.isfinite(r.loss) for r in result.history)
    assert any(not r.skipped for r in result.history)


def test_training_stops_at_the_first_bad_step(monkeypatch):
    calls = {"n": 0}
    original = torch.Tensor.backward

    def backward_then_poison(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            for parameter in ModelSpy.model.parameters():
                parameter.grad.fill_(float("nan"))
                break

    class ModelSpy(DBNet):
        model: DBNet

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            ModelSpy.model = self

    monkeypatch.setattr("ocr.train.DBNet", ModelSpy)
    monkeypatch.setattr(torch.Tensor, "backward", backward_then_poison)
    with pytest.raises(NonFiniteError, match=r"^step 2: gradient of 'backbone.stem.0.weight'"):
        train(TrainConfig(steps=5, batch_size=2, eval_samples=0))


def test_the_command_prints_loss_gradient_norm_and_hmean(capsys):
    assert (
        main(["--steps", "4", "--batch-size", "2", "--log-every", "2", "--eval-samples", "4", "--device", "cpu"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("step     2/4  loss ") and "grad_norm" in out[0]
    assert out[-1].startswith("hmean ") and "precision" in out[-1] and "recall" in out[-1]


def test_the_command_reports_a_bad_option_without_a_traceback(capsys):
    assert main(["--steps", "0", "--device", "cpu"]) == 1
    assert capsys.readouterr().err == "error: steps, batch size and threads must be positive\n"


def test_training_restores_the_thread_count():
    threads = torch.get_num_threads()
    train(TrainConfig(steps=1, batch_size=1, eval_samples=0, threads=1))
    assert torch.get_num_threads() == threads
