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
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import CheckpointError, ResnetsError
from ..files import write_text_atomic
from ..limits import (DEVICE, FRACTION, SEED, TEXT, Limit, check_fields, choice,
                      field_arg, integer, number)
from ..train.checkpoint import CheckpointManager, capture_rng_state, restore_rng_state
from ..train.context import StopRequested, stop_on_interrupt
from ..train.logger import RunLogger
from ..train.optim import build_optimizer
from ..train.schedules import ScheduleConfig, apply_lr, lr_at
from ..train.rundir import create_run_dir, hold_run_dir, timestamped
from ..train.setup import resolve_device
from .batches import StepLoader

OPTIMIZERS = ("sgd", "adamw")
TASK_COMMANDS = {"detection": "detect", "segmentation": "segment"}  # task -> `resnets CMD`


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

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "steps": integer(1), "batch_size": integer(1, 1024), "optimizer": choice(*OPTIMIZERS),
        "lr": number(0, 10, open_low=True), "momentum": FRACTION, "weight_decay": number(0, 1),
        "warmup_iters": integer(0), "clip_grad": number(0, 1e6), "eval_every": integer(0),
        "log_every": integer(1), "workers": integer(0, 256), "seed": SEED, "device": DEVICE,
        "out_dir": TEXT, "run_name": TEXT,
    }

    def __post_init__(self) -> None:
        check_fields(self)


def make_run_dir(cfg: LoopConfig, default_name: str) -> Path:
    """A new, locked run directory under ``cfg.out_dir`` (as every training command makes
    them: :func:`resnets.train.rundir.create_run_dir`); :func:`fit` holds it to the end."""
    return create_run_dir(cfg.out_dir, cfg.run_name, timestamped(default_name),
                          option="--run-name")


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


@dataclass
class _Position:
    """Where a run stands after ``step`` steps: what a checkpoint needs besides the weights."""

    step: int = 0
    running: dict[str, float] = field(default_factory=dict)  # loss sums since the last row
    counted: int = 0  # steps in those sums
    rng: dict[str, Any] = field(default_factory=dict)  # random states after ``step``
    started: float = 0.0  # perf_counter() when the run would have started without breaks
    consistent: bool = True  # False while the weights move past ``step`` (optimizer.step)

    def state(self) -> dict[str, Any]:
        return {"step": self.step, "rng": self.rng, "sums": self.running,
                "counted": self.counted, "seconds": self.seconds()}

    def seconds(self) -> float:
        return round(time.perf_counter() - self.started, 1)


def _restore(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any],
             meta: dict[str, Any], run_dir: Path) -> _Position:
    if list(state.get("classes", [])) != list(meta["classes"]):
        raise CheckpointError(f"the checkpoint in {str(run_dir)!r} was trained on the classes "
                              f"{list(state.get('classes', []))}, but the training data now "
                              f"declares {list(meta['classes'])}; restore the data")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    print(f"resumed {run_dir} at step {state['step']}", flush=True)
    return _Position(state["step"], dict(state["sums"]), state["counted"],
                     started=time.perf_counter() - state["seconds"])


def fit(model: nn.Module, loss_fn: LossFn, loader: StepLoader, cfg: LoopConfig,
        run_dir: Path, evaluate: Callable[[nn.Module], dict[str, float]],
        meta: dict[str, Any], resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``model`` for ``cfg.steps`` steps; returns the summary written to summary.json.

    ``loss_fn(model, batch, device)`` returns named losses (summed for the gradient);
    ``evaluate(model)`` returns validation metrics; ``meta`` (the task's configuration, data
    and classes) is stored in config.json and in every checkpoint, so evaluate, predict and a
    resume can rebuild the model. ``resume`` is a checkpoint of this run to continue from.
    A checkpoint is written after every evaluation and on Ctrl-C (then the run stops).
    The run directory stays locked until the run ends.
    """
    with hold_run_dir(run_dir):
        return _fit(model, loss_fn, loader, cfg, run_dir, evaluate, meta, resume)


def _fit(model: nn.Module, loss_fn: LossFn, loader: StepLoader, cfg: LoopConfig,
         run_dir: Path, evaluate: Callable[[nn.Module], dict[str, float]],
         meta: dict[str, Any], resume: dict[str, Any] | None) -> dict[str, Any]:
    device = resolve_device(cfg.device)
    model.to(device)
    optimizer = _optimizer(model, cfg)
    schedule = ScheduleConfig(name="cosine", warmup_iters=cfg.warmup_iters)
    checkpoints = CheckpointManager(run_dir)
    # A resume's --steps, --device, --workers are stored: resumed again, the run keeps them.
    write_text_atomic(run_dir / "config.json", json.dumps({**meta, "loop": asdict(cfg)},
                                                          indent=2))
    pos = (_restore(model, optimizer, resume, meta, run_dir) if resume
           else _Position(started=time.perf_counter()))
    logger = RunLogger(run_dir)
    if resume:
        logger.truncate_after(pos.step)  # rows logged after the checkpoint come again
        restore_rng_state(resume["rng"])  # last: nothing draws between here and the loop
    pos.rng, batches, metrics = capture_rng_state(), loader.batches(pos.step), {}

    def save() -> None:
        checkpoints.save_last({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               **pos.state(), **meta})

    interrupt = SimpleNamespace(stop_requested=False, world_size=1)
    try:
        with stop_on_interrupt(interrupt):  # Ctrl-C: stop after the current step
            while pos.step < cfg.steps:
                if interrupt.stop_requested:
                    raise StopRequested
                step = pos.step + 1
                model.train()
                apply_lr(optimizer, lr_at(step - 1, schedule, len(loader), cfg.steps, cfg.lr))
                losses = loss_fn(model, next(batches), device)
                loss = sum(losses.values())
                if not math.isfinite(loss.item()):
                    raise ResnetsError(f"the loss became {loss.item()} at step {step}; lower "
                                       "--lr or raise --warmup-iters")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
                pos.consistent = False
                optimizer.step()
                pos.step = step
                for key, value in {"loss": loss, **losses}.items():
                    pos.running[key] = pos.running.get(key, 0.0) + value.item()
                pos.counted += 1
                metrics = _log_and_save(model, pos, cfg, optimizer, evaluate, logger,
                                        save) or metrics
                pos.consistent = True
    except (StopRequested, KeyboardInterrupt):
        _stop(pos, save, run_dir, meta["task"])
    finally:
        logger.close()
    summary = {"run_dir": str(run_dir), "steps": cfg.steps, "train_seconds": pos.seconds(),
               **metrics}
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _log_and_save(model: nn.Module, pos: _Position, cfg: LoopConfig,
                  optimizer: torch.optim.Optimizer, evaluate: Callable, logger: RunLogger,
                  save: Callable[[], None]) -> dict[str, Any]:
    """After step ``pos.step``: a metrics row every ``log_every`` steps, an evaluation and a
    checkpoint every ``eval_every`` steps and after the last; returns the metrics, if any."""
    step, metrics = pos.step, {}
    evaluate_now = step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)
    if step % cfg.log_every == 0 or evaluate_now:
        row: dict[str, Any] = {"step": step, "lr": optimizer.param_groups[0]["lr"],
                               **{k: round(v / pos.counted, 5) for k, v in pos.running.items()},
                               "seconds": pos.seconds()}
        pos.running, pos.counted = {}, 0
        if evaluate_now:
            metrics = evaluate(model)
            row.update(flatten(metrics))
        logger.log(row)  # before the checkpoint: a resume never loses a row
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in row.items()), flush=True)
    pos.rng = capture_rng_state()  # the evaluation may draw: a resume continues from here
    if evaluate_now:
        save()
    return metrics


def _stop(pos: _Position, save: Callable[[], None], run_dir: Path, task: str) -> None:
    """Ctrl-C: save the run at the last whole step and say how to continue it."""
    if pos.consistent:
        save()
    ckpts = CheckpointManager(run_dir)
    what = ("checkpoint saved at this step" if pos.consistent
            else f"it stopped inside a step, so {ckpts.kept_note()}")
    then = (f"Resume with:\n  {train_command(task)} --resume {shlex.quote(str(run_dir))}"
            if ckpts.has_checkpoint() else "Start the run again to train it.")
    print(f"\ninterrupted at step {pos.step}; {what}. {then}", flush=True)
    raise SystemExit(130) from None


def train_command(task: str) -> str:
    """The command that trains ``task`` ("detection" or "segmentation")."""
    return f"resnets {TASK_COMMANDS[task]} train"


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
                else {"type": field_arg(cls, f.name)})  # the field's own limit
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default,
                            help=f"{comments.get(f.name, '')} (default: {f.default!r})", **kind)


def config_from_args(cls: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """An instance of the dataclass ``cls`` from the options of :func:`add_config_args`."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **fixed})
