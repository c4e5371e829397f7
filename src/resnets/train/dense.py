"""What the dense prediction tasks (``resnets detect``, ``resnets segment``) share: the
engine's defaults of a short fine-tuning run (:class:`DenseConfig`), data paths made absolute,
and :class:`DenseTask`, the task they both are but for their data, model, loss and metric."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from ..errors import CheckpointError, DataError
from .collectives import broadcast_text
from .config import EngineConfig, OptimConfig
from .metadata import check_classes
from .resume import ENGINE_RESUME_SETTINGS
from .schedules import ScheduleConfig
from .task import StepOutput, Task, TaskData


def absolute_paths(cfg: object, names: tuple[str, ...]) -> None:
    """Make the path fields ``names`` of the frozen dataclass ``cfg`` absolute ("" stays), so
    a run resumed or evaluated from another folder finds its data."""
    for name in names:
        value = getattr(cfg, name)
        if value:
            object.__setattr__(cfg, name, os.path.abspath(value))


# Short fine-tuning runs of torchvision's detectors and segmenters: SGD at lr 0.01 with a
# linear warm-up and a cosine, no weight decay on norm parameters and biases, gradients
# clipped at norm 10 (the settings of the loop these commands had before the engine).
def dense_optim() -> OptimConfig:
    return OptimConfig(lr=0.01, momentum=0.9, weight_decay=1e-4, grad_clip=10.0,
                       decay_norm_and_bias=False)


def dense_schedule() -> ScheduleConfig:
    return ScheduleConfig(name="cosine", warmup_iters=100)


@dataclass(frozen=True)
class DenseConfig(EngineConfig):
    """The engine's settings with the defaults of the detection and segmentation runs; each
    task's configuration adds its model and its data."""

    optim: OptimConfig = field(default_factory=dense_optim)
    schedule: ScheduleConfig = field(default_factory=dense_schedule)
    iterations: int = 1000  # optimiser steps in total (--steps); 0 = train epochs instead
    batch_size: int = 4  # the global batch: images per step, all processes together
    eval_batch_size: int = 4  # images per evaluation step (detection)
    channels_last: bool = False  # NHWC weights (torchvision's detectors batch NCHW images)
    eval_every: int = 0  # epochs between evaluations; 0 = only after the last epoch


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"iou": {"cat": 0.5}}`` -> ``{"iou/cat": 0.5}``: one column of metrics.csv each."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten` (one level): ``{"iou/cat": 0.5}`` -> nested again."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        group, slash, name = key.partition("/")
        if slash:
            out.setdefault(group, {})[name] = value
        else:
            out[key] = value
    return out


@dataclass
class DenseData(TaskData):
    """The training batches (:class:`~resnets.data.steps.StepLoader`), the validation set
    and the class names (background first for segmentation)."""

    val: Any = None
    classes: list[str] = field(default_factory=list)


class DenseTask(Task):
    """What detection and segmentation have in common as tasks of the engine: the loss is a
    sum of named terms (each reported per step), rank 0 evaluates the whole validation set
    and hands the metrics to every process, and a higher monitored metric is better."""

    higher_is_better = True
    # A resume may also change the loader processes: batches are a function of (seed, step).
    resume_settings = (*ENGINE_RESUME_SETTINGS, "data.workers")
    shown: ClassVar[tuple[str, ...]] = ()  # metrics printed after each evaluation
    split: ClassVar[str] = "file"  # what data.train and data.val name: "file" | "folder"
    split_help: ClassVar[str] = ""  # what they hold, for the message when one is missing
    model_section: ClassVar[str]  # the configuration's section of model settings: "detector"
    named_by: ClassVar[tuple[str, ...]]  # its fields that name a new run, after the word
    # (model settings, classes) -> the model: build_detector, build_segmenter
    build: ClassVar[Callable[[Any, int], nn.Module]]

    def run_name(self, cfg: Any) -> str:
        model = getattr(cfg, self.model_section)
        word = self.command.split()[1]  # "detect" of `resnets detect train`
        return cfg.recipe or "-".join([word, *(getattr(model, f) for f in self.named_by)])

    def build_model(self, cfg: Any, data: DenseData, device: torch.device,
                    load_pretrained: bool) -> nn.Module:
        model = getattr(cfg, self.model_section)
        if not load_pretrained:  # a resumed run's weights come from its checkpoint
            model = replace(model, weights="")
        net = type(self).build(model, len(data.classes)).to(device)
        return net.to(memory_format=torch.channels_last) if cfg.channels_last else net

    def metadata(self, cfg: Any, data: DenseData) -> dict[str, Any]:
        """What ``evaluate`` and ``predict`` rebuild the model by: its settings and classes."""
        return {self.model_section: asdict(getattr(cfg, self.model_section)),
                "classes": data.classes}

    def check(self, cfg: Any, resuming: bool) -> None:
        exists = os.path.isfile if self.split == "file" else os.path.isdir
        for key in ("train", "val"):  # before a run directory is made
            path = getattr(cfg.data, key)
            if not exists(path):
                raise DataError(f"data.{key}: no {self.split} {path!r}; pass --{key} with "
                                f"{self.split_help}")

    def losses(self, cfg: Any, net: nn.Module, batch: Any,
               device: torch.device) -> dict[str, torch.Tensor]:
        """The named loss terms of one batch; the gradient is that of their sum."""
        raise NotImplementedError

    def validation_metrics(self, model: nn.Module, data: DenseData, cfg: Any,
                           device: torch.device) -> dict[str, Any]:
        """The metrics of ``model`` on the whole validation set (run on rank 0 alone)."""
        raise NotImplementedError

    def build_step(self, cfg: Any, data: DenseData):
        def step(net, batch, device: torch.device) -> StepOutput:
            terms = self.losses(cfg, net, batch, device)
            loss = sum(terms.values())
            n = len(batch[0])
            sums = {name: value.detach().float() * n
                    for name, value in {"loss": loss, **terms}.items()}
            return StepOutput(loss, {**sums, "seen": n})

        return step

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        seen = max(float(sums.get("seen", 0)), 1.0)
        return {f"train_{k}": float(v) / seen for k, v in sums.items() if k != "seen"}

    def evaluate(self, model: nn.Module, data: DenseData, cfg: Any, device: torch.device,
                 is_main: bool) -> dict[str, Any]:
        # One process evaluates (COCOeval is not sharded); every process gets its numbers.
        text = json.dumps(self.validation_metrics(model, data, cfg, device)) if is_main else ""
        return flatten(json.loads(broadcast_text(text)))

    def check_checkpoint(self, cfg: Any, state: dict[str, Any], data: DenseData,
                         where: str) -> None:
        saved = check_classes(state.get("classes"), where)
        if saved != list(data.classes):
            raise CheckpointError(f"{where} was trained on the classes {saved}, but the "
                                  f"training data now declares {list(data.classes)}; "
                                  "restore the data")

    def progress_line(self, row: dict[str, Any], epochs: int) -> str:
        parts = [f"epoch {row['epoch']}/{epochs}", f"step {row['step']}",
                 f"lr {row['lr']:.4g}", f"train loss {row['train_loss']:.4f}"]
        parts += [f"{name} {row[name]:.4f}" for name in self.shown if name in row]
        parts.append(f"{row['images_per_second']:.1f} img/s")
        return "  ".join(parts)

    def summary(self, cfg: Any, common: dict[str, Any], last: dict[str, Any],
                best: float) -> dict[str, Any]:
        """The run, its last row's losses and metrics (nested again) and the best one."""
        out = {**common, **unflatten({k: v for k, v in last.items()
                                      if k not in ("epoch", "step", "lr")})}
        out[f"best_{self.monitor}"] = None if math.isinf(best) else best
        return out
