"""A short training loop shared by detection and segmentation.

The pieces are the classification engine's: the lr of step ``t`` from
:func:`resnets.train.schedules.lr_at` (linear warm-up, then a cosine), SGD from
:func:`resnets.train.optim.build_optimizer`, metrics through :class:`RunLogger` and atomic,
checksummed checkpoints through :class:`CheckpointManager`. The task supplies the loss of a
batch and the evaluation on the validation set.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from ..errors import ResnetsError
from ..train.checkpoint import CheckpointManager
from ..train.logger import RunLogger
from ..train.optim import build_optimizer
from ..train.schedules import ScheduleConfig, apply_lr, lr_at
from ..train.setup import new_run_dir, resolve_device

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class LoopConfig:
    """How long and how fast to train, and where the run goes."""

    steps: int = 1000  # optimiser steps
    batch_size: int = 4  # images per step
    optimizer: str = "sgd"  # sgd (momentum) | adamw
    lr: float = 0.01  # peak learning rate, reached after the warm-up
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 1e-4  # L2 penalty on weights (AdamW: decoupled decay)
    warmup_iters: int = 100  # steps of linear warm-up from 0 to lr; then a cosine to 0
    clip_grad: float = 10.0  # largest gradient norm; 0 = no clipping
    eval_every: int = 0  # steps between validation runs; 0 = only after the last step
    log_every: int = 20  # steps between progress lines and metrics rows
    workers: int = 0  # DataLoader worker processes; 0 = load in the main process
    seed: int = 0  # seeds the weights, the shuffling and the augmentation
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    out_dir: str = "runs"  # parent folder of the run directories
    run_name: str = ""  # run directory name; "" = <task>-<backbone>-<date-time>

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "log_every"):
            if getattr(self, key) < 1:
                raise ResnetsError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("warmup_iters", "eval_every", "workers", "weight_decay", "clip_grad",
                    "momentum"):
            if getattr(self, key) < 0:
                raise ResnetsError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ResnetsError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ResnetsError(f"unknown optimizer {self.optimizer!r}; use one of "
                               f"{', '.join(OPTIMIZERS)}")


def make_run_dir(cfg: LoopConfig, default_name: str) -> Path:
    """A new run directory under ``cfg.out_dir`` (the classification runs' naming)."""
    return new_run_dir(SimpleNamespace(run_name=cfg.run_name, recipe=default_name,
                                       out_dir=cfg.out_dir))


def endless(loader: torch.utils.data.DataLoader) -> Iterator:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"iou": {"cat": 0.5}}`` -> ``{"iou/cat": 0.5}``: one column per number."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _optimizer(model: nn.Module, cfg: LoopConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return build_optimizer(model, cfg.lr, cfg.momentum, cfg.weight_decay,
                               decay_norm_and_bias=False)
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


LossFn = Callable[[nn.Module, Any, torch.device], dict[str, torch.Tensor]]


def fit(model: nn.Module, loss_fn: LossFn, loader: torch.utils.data.DataLoader,
        cfg: LoopConfig, run_dir: Path, evaluate: Callable[[nn.Module], dict[str, float]],
        meta: dict[str, Any]) -> dict[str, Any]:
    """Train ``model`` for ``cfg.steps`` steps; returns the summary written to summary.json.

    ``loss_fn(model, batch, device)`` returns named losses (summed for the gradient);
    ``evaluate(model)`` returns validation metrics; ``meta`` (the task's configuration and
    classes) is stored in every checkpoint, so evaluate and predict can rebuild the model.
    """
    device = resolve_device(cfg.device)
    model.to(device)
    optimizer = _optimizer(model, cfg)
    schedule = ScheduleConfig(name="cosine", warmup_iters=cfg.warmup_iters)
    logger, checkpoints = RunLogger(run_dir), CheckpointManager(run_dir)
    (run_dir / "config.json").write_text(json.dumps({**meta, "loop": asdict(cfg)}, indent=2),
                                         encoding="utf-8")
    batches, start, metrics = endless(loader), time.perf_counter(), {}
    running: dict[str, float] = {}  # loss sums since the last row
    counted = 0  # steps in those sums
    for step in range(1, cfg.steps + 1):
        model.train()
        apply_lr(optimizer, lr_at(step - 1, schedule, len(loader), cfg.steps, cfg.lr))
        losses = loss_fn(model, next(batches), device)
        loss = sum(losses.values())
        if not math.isfinite(loss.item()):
            raise ResnetsError(f"the loss became {loss.item()} at step {step}; lower --lr or "
                               "raise --warmup")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        optimizer.step()
        for key, value in {"loss": loss, **losses}.items():
            running[key] = running.get(key, 0.0) + value.item()
        counted += 1
        evaluate_now = step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)
        if step % cfg.log_every == 0 or evaluate_now:
            row: dict[str, Any] = {"step": step, "lr": optimizer.param_groups[0]["lr"],
                                   **{k: round(v / counted, 5) for k, v in running.items()},
                                   "seconds": round(time.perf_counter() - start, 1)}
            running, counted = {}, 0
            if evaluate_now:
                metrics = evaluate(model)
                row.update(flatten(metrics))
                checkpoints.save_last({"model": model.state_dict(), "step": step, **meta})
            logger.log(row)
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in row.items()), flush=True)
    logger.close()
    summary = {"run_dir": str(run_dir), "steps": cfg.steps,
               "train_seconds": round(time.perf_counter() - start, 1), **metrics}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def add_config_args(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()
                    ) -> None:
    """One ``--field-name`` option per field of the dataclass ``cls``, helped by the field's
    comment, so a CLI and its configuration cannot drift apart."""
    comments = dict(re.findall(r"^\s+(\w+): [^=]+= [^#]+#\s*(.+)$", inspect.getsource(cls),
                               flags=re.MULTILINE))
    for f in fields(cls):
        if f.name in skip:
            continue
        kind = ({"action": argparse.BooleanOptionalAction} if isinstance(f.default, bool)
                else {"type": type(f.default)})
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default,
                            help=f"{comments.get(f.name, '')} (default: {f.default!r})", **kind)


def config_from_args(cls: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """An instance of the dataclass ``cls`` from the options of :func:`add_config_args`."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **fixed})
