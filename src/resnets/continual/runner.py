"""Train a sequence of class-incremental experiences, each one engine run, and score it.

The sequence's run directory ``RUN`` holds its ``config.json``; experience k trains in
``RUN/experience-k`` (the engine's run directory: config, metrics, checkpoints, summary, and
``strategy.pt``, what the strategy carries to the next experience) from the weights the
previous one ended with. At the end ``RUN`` gets ``accuracy_matrix.csv`` / ``.json`` /
``.png``, ``summary.json`` and the final weights (``model.safetensors``). ``--resume RUN``
skips the finished experiences, continues the first unfinished one through the engine's
resume (bit-for-bit) and goes on. Under torchrun every process runs the same sequence in one
process group.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence as Seq

import torch

from ..errors import CheckpointError, ResnetsError
from ..files import atomic_path, write_text_atomic
from ..readback import read_json
from ..train import distributed
from ..train.checkpoint import CheckpointManager
from ..train.config import apply_overrides
from ..train.context import Context, Hook
from ..train.engine import open_run_dir, train
from ..train.resume import resume_changes, store_config
from ..train.rundir import hold_run_dir
from ..train.setup import load_run_config
from ..weights import save_weights
from . import metrics
from .config import ContinualConfig
from .task import (EXPERIENCE, ContinualTask, ExperienceTask, Sequence, build_strategy,
                   new_model, run_directory)

STRATEGY_STATE = "strategy.pt"  # in an experience's directory: the strategy after it


def run_continual(cfg: ContinualConfig, resume_dir: str | os.PathLike | None = None,
                  hooks: Seq[Hook] = (), env: distributed.DistEnv | None = None,
                  echo: Callable[[str], None] = print) -> dict:
    """Train (or continue) the sequence of ``cfg``; returns the summary (also written to the
    run directory). ``hooks`` see every experience's engine run."""
    env = distributed.detect() if env is None else env
    task = ContinualTask()
    task.check(cfg, resuming=bool(resume_dir))
    changes: dict[str, Any] = {}
    if resume_dir:
        if CheckpointManager(resume_dir).has_checkpoint():  # a sequence's directory has none
            parent = Path(resume_dir).resolve().parent
            raise ResnetsError(f"{resume_dir} is one experience of the sequence in {parent}; "
                               f"resume the sequence: resnets continual --resume {parent}")
        changes = resume_changes(load_run_config(resume_dir, ContinualConfig), cfg,
                                 task.resume_settings)
        if (Path(resume_dir) / "summary.json").is_file():
            raise ResnetsError(f"--resume {resume_dir}: the run already trained its "
                               f"{cfg.continual.tasks} experiences; start a new run")
    sequence = Sequence.load(cfg)  # bad data fails before a run directory exists
    is_main = env.rank == 0
    with distributed.session(cfg, env) as wrap_model:
        # A new run's directory is named by the sequence (no time stamp): rank 0 makes it.
        named = cfg if resume_dir else apply_overrides(cfg, {"run_name": run_directory(cfg).name})
        run_dir = open_run_dir(task, named, resume_dir, is_main, reenter=False)
        with (hold_run_dir(run_dir, discard_unused=not resume_dir) if is_main
              else contextlib.nullcontext()):
            if is_main and (changes or not resume_dir):
                store_config(run_dir, cfg)
            run = Experiences(cfg, sequence, run_dir, changes, hooks, env, wrap_model)
            summaries = [run.experience(i, echo if is_main else None)
                         for i in range(len(sequence.splits))]
            return _finish(cfg, run_dir, sequence, summaries, run.strategy, run.start_from,
                           is_main)


class Experiences:
    """The experiences of one sequence, trained in turn in one process group."""

    def __init__(self, cfg: ContinualConfig, sequence: Sequence, run_dir: Path,
                 changes: dict[str, Any], hooks: Seq[Hook], env: distributed.DistEnv,
                 wrap_model) -> None:
        self.cfg, self.sequence, self.run_dir, self.changes = cfg, sequence, run_dir, changes
        self.hooks, self.env, self.wrap_model = hooks, env, wrap_model
        self.strategy = build_strategy(cfg)
        self.start_from: dict[str, torch.Tensor] | None = None  # the weights so far

    def experience(self, index: int, echo: Callable[[str], None] | None) -> dict:
        """Train experience ``index`` (or read it back, finished earlier); its summary."""
        directory = self.run_dir / EXPERIENCE.format(index + 1)
        task = ExperienceTask(index, self.sequence, self.strategy, self.start_from)
        if (directory / "summary.json").is_file():  # finished by an earlier session
            fix = "the run cannot be resumed; start a new run"
            summary = read_json(directory / "summary.json", "experience summary", fix)
            self.strategy.load_state_dict(load_state(directory / STRATEGY_STATE))
        else:
            resume = CheckpointManager(directory).has_checkpoint()
            cfg = self.experience_config(directory, resume)
            summary = train(cfg, resume_dir=directory if resume else None,
                            hooks=[*self.hooks, SaveStrategy(self.strategy)],
                            rank=self.env.rank, world_size=self.env.world_size,
                            wrap_model=self.wrap_model, reenter=directory.is_dir(),
                            task=task)
        state = CheckpointManager(directory).load_latest()
        if state is None:
            raise CheckpointError(f"{directory} holds no checkpoint; start a new run")
        self.start_from = state["model"]
        if echo:
            split, classes = task.split, self.sequence.train.classes
            row = accuracy_row(summary, len(self.sequence.splits))
            echo(f"{split.name} (classes {', '.join(classes[c] for c in split.classes)}): "
                 f"train loss {summary['train_loss']:.4f}; accuracy "
                 + " ".join(f"{100 * a:.1f}" for a in row))
        return summary

    def experience_config(self, directory: Path, resume: bool) -> ContinualConfig:
        """A new experience trains the sequence's settings in ``directory``; a resumed one
        its own, with the changes this resume makes."""
        if resume:
            return apply_overrides(load_run_config(directory, ContinualConfig), self.changes)
        return apply_overrides(self.cfg, {"out_dir": str(self.run_dir),
                                          "run_name": directory.name})


class SaveStrategy(Hook):
    """Rank 0 writes the strategy's state at the end of an experience, before its summary
    (a summary on disk means the state is there too)."""

    def __init__(self, strategy) -> None:
        self.strategy = strategy

    def on_train_end(self, ctx: Context, summary: dict) -> None:
        if ctx.is_main:
            with atomic_path(ctx.run_dir / STRATEGY_STATE) as tmp:
                torch.save(self.strategy.state_dict(), tmp)


def load_state(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} is missing: the experience did not finish "
                              "writing; start a new run")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file: one line
        raise CheckpointError(f"cannot read {str(path)!r} ({type(exc).__name__}); start a "
                              "new run") from None


def accuracy_row(summary: dict, tasks: int) -> list[float]:
    """The experience's row of the accuracy matrix, from its summary."""
    try:
        return [float(summary[f"accuracy_task{j + 1}"]) for j in range(tasks)]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"the summary in {summary.get('run_dir')!r} has no accuracy "
                              f"on each of the {tasks} tasks; start a new run") from None


def _finish(cfg: ContinualConfig, run_dir: Path, sequence: Sequence, summaries: list[dict],
            strategy, final_weights: dict[str, torch.Tensor], is_main: bool) -> dict:
    if not is_main:  # the other processes' engine summaries hold no metrics
        return {"run_dir": str(run_dir)}
    tasks = len(sequence.splits)
    matrix = [accuracy_row(s, tasks) for s in summaries]
    c, classes = cfg.continual, sequence.train.classes
    summary = {"strategy": c.strategy, "data": c.data, "model": c.model,
               "tasks": [[classes[k] for k in s.classes] for s in sequence.splits],
               **metrics.summarise(matrix), "strategy_state": strategy.describe(),
               "train_seconds": sum(s["train_seconds"] for s in summaries),
               "run_dir": str(run_dir)}
    write_outputs(run_dir, matrix, f"{c.strategy} on {c.data}")
    model = new_model(cfg, sequence.train)
    model.load_state_dict(final_weights)
    save_weights(model, run_dir / "model.safetensors")
    write_text_atomic(run_dir / "summary.json", json_text(summary))
    return summary


def write_outputs(run_dir: Path, matrix: list[list[float]], title: str) -> None:
    """The matrix as CSV, JSON and a figure."""
    header = "after_task," + ",".join(f"task{j + 1}" for j in range(len(matrix)))
    lines = [header] + [f"{i + 1}," + ",".join(f"{v:.6f}" for v in row)
                        for i, row in enumerate(matrix)]
    write_text_atomic(run_dir / "accuracy_matrix.csv", "\n".join(lines) + "\n")
    write_text_atomic(run_dir / "accuracy_matrix.json",
                      json_text({"matrix": matrix, "rows": "after training task i",
                                 "columns": "test accuracy on task j"}))
    metrics.matrix_figure(matrix, run_dir / "accuracy_matrix.png", title)  # atomic itself


def json_text(data) -> str:
    return json.dumps(data, indent=2) + "\n"
