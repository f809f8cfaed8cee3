"""Train DBNet on the synthetic dataset: `python -m ocr.train --steps 200`.

Every step checks the loss and every gradient; training stops with a message naming the step and
the parameter at the first value that is not finite. That check, not a forward-pass NaN test, is
what catches a numerically unstable backward pass such as the step function's overflow."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ocr.data.synthetic import SyntheticTextDataset, collate
from ocr.metric import DetectionScore, match_detections
from ocr.models.dbnet import DBNet
from ocr.models.loss.db_loss import DBLoss
from ocr.postprocess import boxes_from_prob_map

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    batch_size: int = 8
    seed: int = 0
    precision: str = "float32"
    device: str = "cpu"
    learning_rate: float = 5e-3
    image_size: int = 64
    eval_samples: int = 32
    log_every: int = 0  # 0: silent


@dataclass
class StepRecord:
    step: int
    loss: float
    grad_norm: float
    terms: dict[str, float]


@dataclass
class TrainResult:
    history: list[StepRecord] = field(default_factory=list)
    score: DetectionScore | None = None


class NonFiniteError(RuntimeError):
    """A loss or gradient that is NaN or infinite, with the step and the name where it appeared."""

    def __init__(self, step: int, where: str, detail: str):
        super().__init__(f"step {step}: {where} is not finite ({detail})")
        self.step, self.where = step, where


def validate_config(config: TrainConfig) -> None:
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.precision == "float16" and not config.device.startswith("cuda"):
        raise ValueError("float16 autocast needs a CUDA device; use bfloat16 on the CPU")
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {config.device!r} asked for, but CUDA is not available")
    if config.steps < 1 or config.batch_size < 1:
        raise ValueError("steps and batch size must be positive")


def check_step_finite(step: int, terms: dict[str, torch.Tensor], model: nn.Module) -> tuple[dict[str, float], float]:
    """Return the loss terms and the total gradient norm with one host synchronisation; on a value
    that is not finite, find the first loss term or parameter responsible and raise NonFiniteError."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    *values, norm = torch.stack([t.detach().float() for t in terms.values()] + [grad_norm]).tolist()
    if all(map(math.isfinite, values)) and math.isfinite(norm):
        return dict(zip(terms, values)), norm
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            raise NonFiniteError(step, f"loss term {name!r}", f"value {value.item()}")
    for name, parameter in model.named_parameters():
        grad = parameter.grad
        if grad is not None and not torch.isfinite(grad).all():
            nan, inf = int(torch.isnan(grad).sum()), int(torch.isinf(grad).sum())
            raise NonFiniteError(step, f"gradient of {name!r}", f"{nan} NaN and {inf} Inf of {grad.numel()} values")
    raise NonFiniteError(step, "gradient norm", f"{norm} (every gradient finite; the norm overflowed)")


def to_device(batch: dict, device: str) -> dict:
    return {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}


@torch.no_grad()
def evaluate(model: DBNet, dataset: SyntheticTextDataset, device: str, batch_size: int = 16) -> DetectionScore:
    """Precision, recall and hmean of the model's boxes against the dataset's polygons."""
    model.eval()
    total = DetectionScore(0, 0, 0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    for batch in loader:
        prob_maps = model(batch["image"].to(device), return_loss=False)["prob_maps"][:, 0].float().cpu().numpy()
        for prob_map, expected in zip(prob_maps, batch["polygons"]):
            predicted = [d.box for d in boxes_from_prob_map(prob_map)]
            total = total + match_detections(predicted, expected)
    model.train()
    return total


def train(config: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Train from scratch, deterministically for a given seed on the CPU."""
    validate_config(config)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = config.device
    model = DBNet().to(device)
    criterion = DBLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    dataset = SyntheticTextDataset(config.steps * config.batch_size, config.image_size, config.image_size, config.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=False, collate_fn=collate)
    autocast_dtype = PRECISIONS[config.precision]
    device_type = "cuda" if device.startswith("cuda") else "cpu"

    result = TrainResult()
    model.train()
    for step, batch in enumerate(loader, start=1):
        batch = to_device(batch, device)
        with torch.autocast(device_type, dtype=autocast_dtype, enabled=config.precision != "float32"):
            preds = model(batch["image"])
        terms = criterion({k: v.float() for k, v in preds.items()}, batch)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        values, grad_norm = check_step_finite(step, terms, model)
        optimizer.step()
        loss = values.pop("loss")
        result.history.append(StepRecord(step, loss, grad_norm, values))
        if config.log_every and (step % config.log_every == 0 or step == config.steps):
            log(f"step {step:>5}/{config.steps}  loss {loss:.4f}  grad_norm {grad_norm:.4f}")

    if config.eval_samples:
        eval_set = SyntheticTextDataset(config.eval_samples, config.image_size, config.image_size, seed=config.seed + 10_000)
        result.score = evaluate(model, eval_set, device)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocr.train", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--eval-samples", type=int, default=32)
    parser.add_argument("--log-every", type=int, default=20)
    args = parser.parse_args(argv)
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        precision=args.precision,
        device=args.device,
        learning_rate=args.lr,
        image_size=args.image_size,
        eval_samples=args.eval_samples,
        log_every=args.log_every,
    )
    try:
        result = train(config)
    except (ValueError, NonFiniteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if result.score is not None:
        s = result.score
        print(f"hmean {s.hmean:.4f}  precision {s.precision:.4f}  recall {s.recall:.4f}  ({s.matched} of {s.expected} boxes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
