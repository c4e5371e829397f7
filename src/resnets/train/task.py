"""What a task brings to the engine; the engine (:mod:`resnets.train.engine`) brings the rest.

The split follows Lightning's ``LightningModule``/``Trainer`` and MMEngine's model/``Runner``:
a task says what its data, its model, the loss of one batch, its evaluation and its checkpoint
metadata are; the engine owns the device, precision, compile, channels_last, the optimiser and
schedule, EMA, gradient clipping, checkpoints and bit-exact resume, Ctrl-C, the NaN guard,
metrics rows, progress, the run directory and the distributed launch. A feature added to the
engine therefore reaches every task.

A task's configuration is a frozen dataclass that subclasses
:class:`~resnets.train.config.EngineConfig` and names the task (``TASK``); the engine reads
only the fields of ``EngineConfig`` and leaves the task's sections to the task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .config import TASK_COMMANDS
from .metadata import check_fits
from .resume import ENGINE_RESUME_SETTINGS


@dataclass
class StepOutput:
    """What one training step of a task computed."""

    loss: torch.Tensor  # the scalar that backward() differentiates
    # Added up over the epoch's steps (and processes), e.g. {"loss": loss * n, "seen": n};
    # ``seen`` counts samples (images per second), ``correct`` with it a training error.
    sums: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskData:
    """The data of a run as the engine sees it; a task may hand a subclass with more."""

    train: Any  # batches with set_epoch(epoch, start=position); len() = steps per epoch
    skipped: list[str] = field(default_factory=list)  # unreadable inputs left out


class Task:
    """Override what is the task's own; every method gets the run's configuration ``cfg``."""

    config_class: ClassVar[type]  # the task's configuration (its TASK names the task)
    # Trains and resumes runs of this task: register_task sets it from config.TASK_COMMANDS,
    # the one table of them; only a task outside that table (an example, a test) sets it.
    command: ClassVar[str] = ""
    monitor: ClassVar[str] = "val_error"  # row key whose best value keeps best.pt ("": none)
    higher_is_better: ClassVar[bool] = False  # for ``monitor``
    # Whether the steps' sums count ``correct`` and ``seen``: a training error, which the
    # error-gated warm-up (schedule.warmup_until_error) needs.
    counts_errors: ClassVar[bool] = False
    # The settings a `--resume` may change (dotted keys): how long, where, loader processes.
    resume_settings: ClassVar[tuple[str, ...]] = ENGINE_RESUME_SETTINGS

    @property
    def name(self) -> str:
        return self.config_class.TASK

    def train_command(self, cfg: Any) -> str:
        """The command that trains (and resumes) this run."""
        return self.command

    def resume_dir(self, run_dir: Path) -> Path:
        """The directory that ``--resume`` continues when this run stops (a task that runs
        several engine runs in one directory names that one)."""
        return run_dir

    def check(self, cfg: Any, resuming: bool) -> None:
        """Refuse settings that cannot work, before a run directory or any data exists."""

    def run_name(self, cfg: Any) -> str:
        """The stem of a new run directory's name (the time is appended)."""
        return cfg.recipe or self.name

    def build_data(self, cfg: Any, device: torch.device, rank: int,
                   world_size: int) -> TaskData:
        """Read and check the data; each process gets its share of every global batch."""
        raise NotImplementedError

    def build_model(self, cfg: Any, data: TaskData, device: torch.device,
                    load_pretrained: bool) -> nn.Module:
        """The model on ``device`` (``load_pretrained=False``: its weights come from a
        checkpoint next)."""
        raise NotImplementedError

    def optimized_module(self, model: nn.Module) -> nn.Module:
        """The part of ``model`` that the engine's optimiser (``optim``) updates."""
        return model

    def extra_optimizers(self, cfg: Any, model: nn.Module) -> list:
        """Other parts of ``model`` with optimisers of their own
        (:class:`~resnets.train.multi.ExtraOptimizer`); when there are any, ``build_step``
        gets ``updates=`` (:class:`~resnets.train.multi.Updates`) to step them."""
        return []

    def hooks(self, cfg: Any, data: TaskData) -> list:
        """The task's own hooks (:class:`~resnets.train.context.Hook`), run before the
        caller's; their state is checkpointed."""
        return []

    def build_step(self, cfg: Any, data: TaskData):
        """``step(net, batch, device) -> StepOutput``: the loss of one training batch
        (inputs moved to ``device`` by the task; the engine runs it under autocast)."""
        raise NotImplementedError

    def model_input(self, cfg: Any, batch: Any, device: torch.device) -> Any:
        """What the model is called with for a training ``batch``, on ``device`` (the engine
        re-estimates BatchNorm statistics of averaged weights with it); None: the task's
        batches have no such input, and averaged weights keep the live model's statistics."""
        return None

    def evaluate(self, model: nn.Module, data: TaskData, cfg: Any, device: torch.device,
                 is_main: bool) -> dict[str, Any]:
        """Named metrics of the evaluation splits (every process calls it together)."""
        return {}

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        """The epoch's training metrics from the global sums of its steps."""
        seen = max(float(sums.get("seen", 0)), 1.0)
        return {"train_loss": float(sums.get("loss", 0.0)) / seen}

    def metadata(self, cfg: Any, data: TaskData) -> dict[str, Any]:
        """Saved in every checkpoint beside the engine's state: what evaluate and predict
        need to rebuild the model (class names, input size, ...)."""
        return {}

    def check_checkpoint(self, cfg: Any, state: dict[str, Any], data: TaskData,
                         where: str) -> None:
        """Refuse a checkpoint of another model or data than this run's (before weights
        load)."""

    def check_weights(self, model: nn.Module, state: dict[str, Any], data: TaskData,
                      where: str) -> None:
        """The checkpoint's weights fit ``model`` (names and shapes), else one line."""
        check_fits(model, state.get("model"), where, classes=0)

    def is_better(self, row: dict[str, Any], best: float) -> bool:
        """Whether ``row`` improves on ``best`` in :attr:`monitor`."""
        value = row.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value > best if self.higher_is_better else value < best

    def initial_best(self) -> float:
        return -math.inf if self.higher_is_better else math.inf

    def progress_line(self, row: dict[str, Any], epochs: int) -> str:
        """The line printed after each epoch."""
        parts = [f"epoch {row['epoch']}/{epochs}", f"step {row['step']}", f"lr {row['lr']:.4g}"]
        parts += [f"{k} {v:.4g}" for k, v in row.items()
                  if k not in ("epoch", "step", "lr", "samples_per_second")
                  and isinstance(v, float)]
        return "  ".join(parts)

    def summary(self, cfg: Any, common: dict[str, Any], last: dict[str, Any],
                best: float) -> dict[str, Any]:
        """``summary.json``: the engine's ``common`` entries and the last row's metrics."""
        out = dict(common)
        out.update({k: v for k, v in last.items() if k not in ("epoch", "step", "lr")})
        if self.monitor:
            out[f"best_{self.monitor}"] = None if math.isinf(best) else best
        return out


TASKS: dict[str, type[Task]] = {}  # TASK of a configuration class -> its task


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: the task that the engine runs for configurations of
    ``cls.config_class``."""
    name = cls.config_class.TASK
    listed = TASK_COMMANDS.get(name)
    if listed and cls.command not in ("", listed):
        raise TypeError(f"task {name!r} is trained by `{listed}` (TASK_COMMANDS), not "
                        f"`{cls.command}`; drop its command")
    if not (listed or cls.command):
        raise TypeError(f"task {name!r} names no command: add it to TASK_COMMANDS")
    cls.command = listed or cls.command
    TASKS[name] = cls
    return cls


def task_for(cfg: Any) -> Task:
    """The registered task of the configuration ``cfg``."""
    name = getattr(cfg, "TASK", None)
    if name not in TASKS:
        raise TypeError(f"no task is registered for {type(cfg).__name__} (TASK {name!r})")
    return TASKS[name]()
