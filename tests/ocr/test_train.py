"""The training loop's guard and command line: a value that is not finite stops training with
the step and the parameter named."""

from __future__ import annotations

import pytest
import torch

from ocr.models.dbnet import DBNet
from ocr.train import NonFiniteError, TrainConfig, check_step_finite, main, train, validate_config


def terms(loss: float = 1.0) -> dict[str, torch.Tensor]:
    return {"loss_prob": torch.tensor(0.5), "loss_thresh": torch.tensor(0.2), "loss_binary": torch.tensor(loss), "loss": torch.tensor(loss)}


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
    assert str(raised.value).startswith("step 122: gradient of 'head.binarize.0.weight' is not finite (1 NaN and 0 Inf of")
    assert raised.value.step == 122


def test_a_non_finite_loss_term_is_named_before_any_gradient():
    with pytest.raises(NonFiniteError, match="step 3: loss term 'loss_binary' is not finite"):
        check_step_finite(3, terms(float("inf")), model_with_gradients())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainConfig(precision="float64"), "precision must be one of"),
        (TrainConfig(precision="float16", device="cpu"), "float16 autocast needs a CUDA device"),
        (TrainConfig(steps=0), "steps and batch size must be positive"),
    ],
)
def test_bad_configurations_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        validate_config(config)


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
    assert main(["--steps", "4", "--batch-size", "2", "--log-every", "2", "--eval-samples", "4", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("step     2/4  loss ") and "grad_norm" in out[0]
    assert out[-1].startswith("hmean ") and "precision" in out[-1] and "recall" in out[-1]


def test_the_command_reports_a_bad_option_without_a_traceback(capsys):
    assert main(["--precision", "float16", "--device", "cpu"]) == 1
    assert capsys.readouterr().err == "error: float16 autocast needs a CUDA device; use bfloat16 on the CPU\n"
