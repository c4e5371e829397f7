"""Continual learning on the engine: each experience (one class-incremental task) is one
engine run of :class:`ExperienceTask`.

An experience trains on its task's training images (plus, for replay, an equally large batch
from the memory at each step), its batch loss is cross-entropy plus the strategy's penalty
(EWC, LwF), and its evaluation is the accuracy on every task's test images: one row of the
accuracy matrix, as the metrics ``accuracy_task1`` ... The model starts from the previous
experience's final weights; what the strategy carries on is handed over by
:mod:`resnets.continual.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import data as D
from ..errors import CheckpointError, ResnetsError
from ..models import create_model, model_info
from ..models.registry import check_modality
from ..train.config import TrainConfig, apply_overrides
from ..train.context import Context, Hook
from ..train.evaluate import batch_to_device, evaluate
from ..train.pipeline import load_arrays
from ..train.resume import ENGINE_RESUME_SETTINGS
from ..train.rundir import check_run_name
from ..train.task import StepOutput, Task, TaskData, register_task
from .config import ContinualConfig
from .splits import Task as Split
from .splits import split_tasks
from .strategies import EWC, LwF, Replay, ReplayMemory, Strategy

DIGITS_SIDE = 16  # the 8 x 8 digits are resized once to this side by default, pixels
EXPERIENCE = "experience-{}"  # an experience's run directory inside the sequence's


def run_directory(cfg: ContinualConfig) -> Path:
    """The sequence's run directory."""
    c = cfg.continual
    return Path(cfg.out_dir) / (cfg.run_name or f"continual-{c.strategy}-{c.data}")


@register_task
class ContinualTask(Task):
    """What every experience of a sequence shares: the checks, the command, resume rules."""

    config_class = ContinualConfig
    monitor = ""  # no best.pt: every experience ends with its own weights
    resume_settings = (*ENGINE_RESUME_SETTINGS, "continual.root")

    def check(self, cfg: ContinualConfig, resuming: bool) -> None:
        c = cfg.continual
        if c.data in ("cifar10", "cifar100") and not c.root:
            raise ResnetsError(f"--data {c.data} needs --root, the folder holding the "
                               f"{c.data} files")
        model_info(c.model)  # an unknown model fails before the data is read
        check_modality("--model", c.model, "image", "continual learning on images")
        if cfg.run_name:
            check_run_name(cfg.run_name, "--run-name")
        if c.data in ("cifar10", "cifar100") and not Path(c.root).is_dir():
            raise ResnetsError(f"--root {c.root!r} is not a folder; point it at the folder "
                               f"holding the {c.data} files")
        if not resuming and (run_directory(cfg) / "summary.json").exists():
            raise ResnetsError(f"{run_directory(cfg)} already holds a finished run; choose "
                               "another --out or --run-name")


@dataclass
class Sequence:
    """The data of a whole sequence, read once and shared by its experiences."""

    train: D.ArrayDataset  # every training image (its channel statistics normalise all)
    splits: list[Split]  # the experiences' classes and images, in order
    mean: list[float]
    std: list[float]

    @classmethod
    def load(cls, cfg: ContinualConfig) -> "Sequence":
        """Read the data as `resnets train` reads it and cut it into tasks."""
        c = cfg.continual
        side = c.resize if c.resize >= 0 else DIGITS_SIDE if c.data == "digits" else 0
        settings = {"data.dataset": c.data, "data.root": c.root, "seed": cfg.seed,
                    "data.synthetic_size": c.synthetic_size, "data.resize": side}
        train, test = load_arrays(apply_overrides(TrainConfig(), settings))
        mean, std = D.channel_stats(train)
        return cls(train, split_tasks(train, test, c.tasks, c.class_order_seed),
                   [float(m) for m in mean], [float(s) for s in std])


def new_model(cfg: ContinualConfig, train: D.ArrayDataset) -> torch.nn.Module:
    """The network of ``cfg`` with one output per class of the whole sequence."""
    return create_model(cfg.continual.model, num_classes=train.num_classes,
                        in_chans=train.images.shape[1])


def build_strategy(cfg: ContinualConfig) -> Strategy:
    c = cfg.continual
    if c.strategy == "replay":
        return Replay(ReplayMemory(c.memory, c.memory_policy, seed=cfg.seed))
    if c.strategy == "ewc":
        return EWC(c.ewc_lambda, c.fisher_samples, max_curvature=1.0 / cfg.optim.lr)
    if c.strategy == "lwf":
        return LwF(c.lwf_alpha, c.lwf_temperature)
    return Strategy()


def augmentation(cfg: ContinualConfig):
    c = cfg.continual
    if not c.augment or c.data == "synthetic":
        return None
    return D.CropFlip(2, flip=False) if c.data == "digits" else D.CropFlip(4, flip=True)


class ExperienceBatches:
    """The experience's batches, each with the replay memory's next batch appended.

    The memory's batches run on from experience step to step across epochs, so batch k of
    the experience takes the memory's batch k (its epoch k // len, position k % len): a
    resumed experience draws the same ones.
    """

    def __init__(self, current: D.InMemoryLoader, replay: D.InMemoryLoader | None) -> None:
        self.current, self.replay = current, replay

    def __len__(self) -> int:
        return len(self.current)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.current.set_epoch(epoch, start)
        if self.replay is not None:
            done = epoch * len(self.current) + start
            self.replay.set_epoch(*divmod(done, len(self.replay)))

    def __iter__(self):
        old = iter(()) if self.replay is None else iter(self.replay)
        for images, labels in self.current:
            if self.replay is not None:
                extra = next(old, None)
                if extra is None:  # the memory's epoch ran out: its next one
                    old = iter(self.replay)
                    extra = next(old)
                images, labels = torch.cat([images, extra[0]]), torch.cat([labels, extra[1]])
            yield images, labels


@dataclass
class ExperienceData(TaskData):
    tests: list[D.InMemoryLoader] | None = None  # every task's test images, in order


class ExperienceTask(ContinualTask):
    """Experience ``index`` (from 0) of ``sequence``, trained with ``strategy`` (holding what
    the earlier experiences left it), from the weights in ``start_from`` (None: new ones)."""

    def __init__(self, index: int, sequence: Sequence, strategy: Strategy,
                 start_from: dict[str, torch.Tensor] | None) -> None:
        self.index, self.sequence, self.strategy = index, sequence, strategy
        self.start_from = start_from
        self.model: torch.nn.Module | None = None

    @property
    def split(self) -> Split:
        return self.sequence.splits[self.index]

    def run_name(self, cfg: ContinualConfig) -> str:
        return EXPERIENCE.format(self.index + 1)

    def resume_dir(self, run_dir: Path) -> Path:
        return run_dir.parent  # `--resume` continues the sequence

    def loader(self, cfg: ContinualConfig, ds: D.ArrayDataset, device: torch.device,
               seed: int | None = None, rank: int = 0, world_size: int = 1):
        common = dict(device=device, mean=self.sequence.mean, std=self.sequence.std)
        if seed is None:  # evaluation: every image, in order
            return D.InMemoryLoader(ds, cfg.eval_batch_size, shuffle=False, drop_last=False,
                                    **common)
        batch = min(cfg.batch_size, len(ds)) // world_size
        return D.InMemoryLoader(ds, batch, shuffle=True, drop_last=True, seed=seed,
                                augment=augmentation(cfg), rank=rank, world_size=world_size,
                                **common)

    def build_data(self, cfg: ContinualConfig, device: torch.device, rank: int,
                   world_size: int) -> ExperienceData:
        if cfg.batch_size % world_size:
            raise ResnetsError(f"batch_size={cfg.batch_size} does not split evenly over "
                               f"{world_size} processes; it is the global batch")
        seed = cfg.seed * 1000 + self.index
        current = self.loader(cfg, self.split.train, device, seed, rank, world_size)
        memory = self.strategy.replay_data()
        replay = None if memory is None else self.loader(cfg, memory, device, seed + 500,
                                                         rank, world_size)
        tests = [self.loader(cfg, s.test, device) for s in self.sequence.splits]
        return ExperienceData(ExperienceBatches(current, replay), tests=tests)

    def build_model(self, cfg: ContinualConfig, data: ExperienceData, device: torch.device,
                    load_pretrained: bool) -> torch.nn.Module:
        torch.manual_seed(cfg.seed)  # the first experience's weights: the same every time
        model = new_model(cfg, self.sequence.train)
        if self.start_from is not None:
            model.load_state_dict(self.start_from)
        model = model.to(device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        # Before a checkpoint's weights load: LwF's teacher is the network the experience
        # starts from.
        self.strategy.before_task(model, self.split)
        self.model = model
        return model

    def build_step(self, cfg: ContinualConfig, data: ExperienceData):
        def step(net, batch, device: torch.device) -> StepOutput:
            images, labels = batch_to_device(*batch, device, cfg.channels_last)
            logits = net(images)
            loss = F.cross_entropy(logits, labels) + self.strategy.penalty(self.model, images,
                                                                            logits)
            n = len(labels)
            return StepOutput(loss, {"loss": loss.detach().float() * n,
                                     "correct": (logits.argmax(1) == labels).sum(), "seen": n})

        return step

    def hooks(self, cfg: ContinualConfig, data: ExperienceData) -> list:
        return [_AfterExperience(self)]

    def evaluate(self, model, data: ExperienceData, cfg: ContinualConfig,
                 device: torch.device, is_main: bool) -> dict[str, Any]:
        """Every process scores every test image (the model is the same in all)."""
        classes = self.sequence.train.num_classes
        return {f"accuracy_task{j + 1}": 1.0 - evaluate(
                    model, batches, classes, device, cfg.precision,
                    cfg.channels_last)["top1_error"]
                for j, batches in enumerate(data.tests)}

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        seen = max(int(sums["seen"]), 1)
        return {"train_loss": float(sums["loss"]) / seen,
                "train_error": 1 - float(sums["correct"]) / seen}

    def metadata(self, cfg: ContinualConfig, data: ExperienceData) -> dict[str, Any]:
        train = self.sequence.train
        return {"model_name": cfg.continual.model, "classes": list(train.classes),
                "experience": self.index, "task_classes": list(self.split.classes),
                "in_chans": train.images.shape[1], "mean": self.sequence.mean,
                "std": self.sequence.std}

    def check_checkpoint(self, cfg: ContinualConfig, state: dict[str, Any],
                         data: ExperienceData, where: str) -> None:
        if (state.get("experience"), state.get("task_classes")) != (
                self.index, list(self.split.classes)):
            raise CheckpointError(f"{where} is not of experience {self.index + 1} with classes "
                                  f"{list(self.split.classes)}; resume with the same data")

    def progress_line(self, row: dict[str, Any], epochs: int) -> str:
        parts = [f"{self.split.name} epoch {row['epoch']}/{epochs}", f"step {row['step']}",
                 f"lr {row['lr']:.4g}", f"train loss {row['train_loss']:.4f}"]
        keys = [f"accuracy_task{j + 1}" for j in range(len(self.sequence.splits))]
        if keys[0] in row:
            accuracy = [row[k] for k in keys]
            parts.append("accuracy " + " ".join(f"{100 * a:.1f}" for a in accuracy))
        return "  ".join(parts)


class _AfterExperience(Hook):
    """At the end of the experience the strategy takes in what it learned (EWC's Fisher
    and anchor, the replay memory): on every process, with the same final model."""

    def __init__(self, task: ExperienceTask) -> None:
        self.task = task

    def on_train_end(self, ctx: Context, summary: dict) -> None:
        task = self.task
        batches = task.loader(ctx.cfg, task.split.train, ctx.device)
        task.strategy.after_task(ctx.model, task.split, batches)
