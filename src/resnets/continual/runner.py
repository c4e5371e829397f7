"""Train one network on a sequence of class-incremental tasks and score it after each one.

The whole dataset lives on the training device (:class:`resnets.data.InMemoryLoader`). Each
task gets a fresh SGD optimiser (:func:`resnets.train.optim.build_optimizer`) with a cosine
learning-rate decay over the task's steps; after each task the network is evaluated on the
test images of every task, which fills one row of the accuracy matrix.

A run directory holds ``config.json``, ``accuracy_matrix.csv`` / ``.json``,
``accuracy_matrix.png``, ``summary.json`` and the final weights (``model.safetensors``),
each written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from .. import data as D
from ..errors import ResnetsError
from ..files import write_text_atomic
from ..limits import (BATCH_MAX, DEVICE, FLAG, FRACTION, SEED, SEED_MAX, TEXT, Limit,
                      check_fields, choice, integer, number)
from ..models import create_model
from ..models.registry import check_modality
from ..train.config import TrainConfig, apply_overrides
from ..train.evaluate import evaluate
from ..train.optim import build_optimizer
from ..train.pipeline import load_arrays
from ..train.rundir import check_run_name, create_run_dir, hold_run_dir
from ..train.schedules import ScheduleConfig, apply_lr, lr_at
from ..train.setup import resolve_device
from ..weights import save_weights
from . import metrics
from .splits import Task, split_tasks
from .strategies import (EWC, MEMORY_POLICIES, STRATEGIES, LwF, Replay, ReplayMemory,
                         Strategy)

DATASETS = ("digits", "cifar10", "cifar100", "synthetic")
DIGITS_SIDE = 16  # the 8 x 8 digits are resized once to this side by default, pixels


@dataclass(frozen=True)
class ContinualConfig:
    strategy: str = "finetune"  # finetune | replay | ewc | lwf
    data: str = "digits"  # digits | cifar10 | cifar100 | synthetic
    root: str = ""  # folder holding the CIFAR files ("" for digits and synthetic)
    tasks: int = 5  # tasks the classes are split into, in order
    class_order_seed: int = -1  # -1: classes in label order; else a seeded shuffle
    model: str = "resnet20"  # registry name, see `resnets models`
    epochs: int = 10  # passes over each task's training images
    batch_size: int = 32  # current-task images per step (replay adds as many from memory)
    lr: float = 0.05  # peak learning rate of each task (cosine decay to 0 over the task)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty per step
    augment: bool = True  # random shifts (digits) / pad-crop-flip (CIFAR) of training images
    memory: int = 200  # replay: images kept from past tasks
    memory_policy: str = "balanced"  # replay: balanced (per class) | reservoir
    ewc_lambda: float = 1000.0  # ewc: strength of the quadratic anchor (lambda)
    fisher_samples: int = 500  # ewc: training images per task for the diagonal Fisher
    lwf_alpha: float = 1.0  # lwf: weight of the distillation term
    lwf_temperature: float = 2.0  # lwf: softmax temperature T of the distillation
    synthetic_size: int = 512  # synthetic data: training images (test: a quarter)
    resize: int = -1  # resize the images once to this side, pixels; -1: digits 16, else keep
    seed: int = 0  # seeds weights, batch order, augmentation and the replay memory
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    eval_batch_size: int = 512  # images per evaluation step
    out: str = "runs"  # parent of the run directory
    run_name: str = ""  # run directory name; "" = continual-STRATEGY-DATA

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "strategy": choice(*STRATEGIES), "data": choice(*DATASETS), "root": TEXT,
        "tasks": integer(1, 1000), "class_order_seed": integer(0, SEED_MAX, also=(-1,)),
        "model": TEXT, "epochs": integer(1, 100_000), "batch_size": integer(1, BATCH_MAX),
        "lr": number(0, 10, open_low=True), "momentum": FRACTION, "weight_decay": number(0, 1),
        "augment": FLAG, "memory": integer(1, 1_000_000),
        "memory_policy": choice(*MEMORY_POLICIES), "ewc_lambda": number(0, 1e9),
        "fisher_samples": integer(1, 1_000_000), "lwf_alpha": number(0, 1000),
        "lwf_temperature": number(0, 100, open_low=True),
        "synthetic_size": integer(1, 1_000_000), "resize": integer(0, 2048, also=(-1,)),
        "seed": SEED, "device": DEVICE, "eval_batch_size": integer(1, BATCH_MAX),
        "out": TEXT, "run_name": TEXT,
    }

    def __post_init__(self) -> None:
        check_fields(self)


def check_config(cfg: ContinualConfig) -> None:
    """Reject impossible settings before any data is read."""
    if cfg.data in ("cifar10", "cifar100") and not cfg.root:
        raise ResnetsError(f"--data {cfg.data} needs --root, the folder holding the "
                           f"{cfg.data} files")
    check_modality("--model", cfg.model, "image", "continual learning on images")
    resolve_device(cfg.device)
    if cfg.run_name:
        check_run_name(cfg.run_name, "--run-name")
    if (run_directory(cfg) / "summary.json").exists():
        raise ResnetsError(f"{run_directory(cfg)} already holds a finished run; choose another "
                           "--out or --run-name")


def run_directory(cfg: ContinualConfig) -> Path:
    return Path(cfg.out) / (cfg.run_name or f"continual-{cfg.strategy}-{cfg.data}")


def build_strategy(cfg: ContinualConfig) -> Strategy:
    if cfg.strategy == "replay":
        return Replay(ReplayMemory(cfg.memory, cfg.memory_policy, seed=cfg.seed))
    if cfg.strategy == "ewc":
        return EWC(cfg.ewc_lambda, cfg.fisher_samples, max_curvature=1.0 / cfg.lr)
    if cfg.strategy == "lwf":
        return LwF(cfg.lwf_alpha, cfg.lwf_temperature)
    return Strategy()


def image_side(cfg: ContinualConfig) -> int:
    """The side the images are resized to (0: as stored)."""
    if cfg.resize >= 0:
        return cfg.resize
    return DIGITS_SIDE if cfg.data == "digits" else 0


def load_data(cfg: ContinualConfig) -> tuple[D.ArrayDataset, D.ArrayDataset]:
    """(train, test) of the chosen dataset, read as `resnets train` reads it (the digits
    resized to DIGITS_SIDE)."""
    if cfg.data in ("cifar10", "cifar100") and not Path(cfg.root).is_dir():
        raise ResnetsError(f"--root {cfg.root!r} is not a folder; point it at the folder "
                           f"holding the {cfg.data} files")
    settings = {"data.dataset": cfg.data, "data.root": cfg.root, "seed": cfg.seed,
                "data.synthetic_size": cfg.synthetic_size,
                "data.resize": image_side(cfg)}
    return load_arrays(apply_overrides(TrainConfig(), settings))


def augmentation(cfg: ContinualConfig):
    if not cfg.augment or cfg.data == "synthetic":
        return None
    return D.CropFlip(2, flip=False) if cfg.data == "digits" else D.CropFlip(4, flip=True)


class TaskTrainer:
    """Everything shared by the tasks of one run: data, device, model, normalisation."""

    def __init__(self, cfg: ContinualConfig, train: D.ArrayDataset,
                 device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        # One normalisation for the whole sequence: the channel statistics of all training
        # images (a mean and std per channel; the class-wise data stays unseen).
        self.mean, self.std = D.channel_stats(train)
        self.num_classes = train.num_classes
        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.model, num_classes=train.num_classes,
                                  in_chans=train.images.shape[1]).to(device)

    def loader(self, ds: D.ArrayDataset, train: bool, seed: int = 0) -> D.InMemoryLoader:
        common = dict(device=self.device, mean=self.mean, std=self.std)
        if not train:
            return D.InMemoryLoader(ds, self.cfg.eval_batch_size, shuffle=False,
                                    drop_last=False, **common)
        batch = min(self.cfg.batch_size, len(ds))
        return D.InMemoryLoader(ds, batch, shuffle=True, drop_last=True, seed=seed,
                                augment=augmentation(self.cfg), **common)

    def train_task(self, task: Task, strategy: Strategy) -> float:
        """Train on ``task`` (plus the strategy's replay); returns the mean training loss."""
        cfg, model = self.cfg, self.model
        strategy.before_task(model, task)
        batches = self.loader(task.train, train=True, seed=cfg.seed * 1000 + task.index)
        memory = strategy.replay_data()
        replay = None if memory is None else self.loader(
            memory, train=True, seed=cfg.seed * 1000 + task.index + 500)
        replay_iter = iter(()) if replay is None else iter(replay)
        optimizer = build_optimizer(model, lr=cfg.lr, momentum=cfg.momentum,
                                    weight_decay=cfg.weight_decay)
        total = cfg.epochs * len(batches)
        schedule = ScheduleConfig(name="cosine")
        model.train()
        step, loss_sum = 0, 0.0
        for _ in range(cfg.epochs):
            for images, labels in batches:
                if replay is not None:
                    old = next(replay_iter, None)
                    if old is None:  # the memory's epoch ran out: start its next one
                        replay_iter = iter(replay)
                        old = next(replay_iter)
                    images, labels = torch.cat([images, old[0]]), torch.cat([labels, old[1]])
                apply_lr(optimizer, lr_at(step, schedule, len(batches), total, cfg.lr))
                logits = model(images)
                loss = F.cross_entropy(logits, labels) + strategy.penalty(model, images, logits)
                if not torch.isfinite(loss):
                    raise ResnetsError(f"training diverged on {task.name} (loss {loss.item()})"
                                       "; lower --lr (or the strategy's strength)")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum += loss.item()
        strategy.after_task(model, task, self.loader(task.train, train=False))
        return loss_sum / max(step, 1)

    def accuracy(self, ds: D.ArrayDataset) -> float:
        result = evaluate(self.model, self.loader(ds, train=False), self.num_classes,
                          self.device)
        return 1.0 - result["top1_error"]


def run_continual(cfg: ContinualConfig, echo=print) -> dict:
    """Train the sequence; returns the summary (also written to the run directory)."""
    check_config(cfg)
    device = resolve_device(cfg.device)
    train, test = load_data(cfg)
    tasks = split_tasks(train, test, cfg.tasks, cfg.class_order_seed)
    # After the checks of the data (a refused input leaves nothing), before any training.
    run_dir = create_run_dir(cfg.out, run_directory(cfg).name, "", option="--run-name",
                             resumable=False)
    with hold_run_dir(run_dir):
        return _run(cfg, device, run_dir, train, tasks, echo)


def _run(cfg: ContinualConfig, device: torch.device, run_dir: Path, train, tasks,
         echo) -> dict:
    write_text_atomic(run_dir / "config.json", json_text(dataclasses.asdict(cfg)))
    trainer = TaskTrainer(cfg, train, device)
    strategy = build_strategy(cfg)
    matrix: list[list[float]] = []
    started = time.perf_counter()
    for task in tasks:
        names = ", ".join(train.classes[c] for c in task.classes)
        loss = trainer.train_task(task, strategy)
        matrix.append([trainer.accuracy(t.test) for t in tasks])
        row = matrix[-1]
        echo(f"{task.name} (classes {names}): train loss {loss:.4f}; accuracy "
             + " ".join(f"{100 * a:.1f}" for a in row)
             + f"; average so far {100 * metrics.average_accuracy(matrix):.2f}%")
    seconds = time.perf_counter() - started
    summary = {"strategy": cfg.strategy, "data": cfg.data, "model": cfg.model,
               "tasks": [[train.classes[c] for c in t.classes] for t in tasks],
               **metrics.summarise(matrix), "strategy_state": strategy.describe(),
               "train_seconds": seconds, "run_dir": str(run_dir)}
    write_outputs(run_dir, matrix, summary, f"{cfg.strategy} on {cfg.data}")
    save_weights(trainer.model, run_dir / "model.safetensors")
    write_text_atomic(run_dir / "summary.json", json_text(summary))
    return summary


def write_outputs(run_dir: Path, matrix: list[list[float]], summary: dict, title: str) -> None:
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
