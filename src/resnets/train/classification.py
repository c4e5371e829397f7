"""Classification as a task of the engine: images, audio clips and texts alike.

``resnets train`` (and ``resnets speech train``, ``resnets text train``) hand a
:class:`~resnets.train.config.TrainConfig` to the engine; this task reads its ``data`` through
:func:`~resnets.train.pipeline.build_pipeline` (audio and text register their pipelines there),
builds ``model`` from the registry, minimises the configured objective (cross-entropy, mixup/
CutMix, adversarial training) and reports top-1/top-5 error on the validation and test splits.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..models import model_info
from .collectives import global_evaluation
from .config import TrainConfig, check_settings
from .distill import check_teacher, load_teacher
from .evaluate import batch_to_device, evaluate
from .finetune import check_pretrained
from .metadata import check_fits, check_same_run, image_metadata
from .objectives import build_objective
from .pipeline import Pipeline, build_pipeline
from .setup import build_model, check_branch_widths
from .resume import TRAIN_RESUME_SETTINGS
from .task import StepOutput, Task, register_task

# The applications whose own train commands resume their runs with their own summary;
# `resnets train --resume` resumes every classification run, whatever command started it.
APPLICATION_COMMANDS = {"speech": "resnets speech train", "text": "resnets text train"}


@register_task
class ClassificationTask(Task):
    """Softmax classification of the registry's models (the ResNet papers' task)."""

    config_class = TrainConfig
    resume_settings = TRAIN_RESUME_SETTINGS
    counts_errors = True

    def train_command(self, cfg: TrainConfig) -> str:
        return APPLICATION_COMMANDS.get(cfg.data.dataset, self.command)

    def check(self, cfg: TrainConfig, resuming: bool) -> None:
        check_settings(cfg)
        model_info(cfg.model.name)  # an unknown model fails before the data is read
        if not resuming:  # a missing backbone file, too (a resumed run has its weights)
            check_pretrained(cfg.model.pretrained, cfg.model.name)
        if cfg.model.branch_widths:  # widths that do not fit fail before the data is read
            check_branch_widths(cfg)
        if cfg.distill.teacher:  # read again at every start: the teacher is no checkpoint's
            check_teacher(cfg.distill.teacher)

    def run_name(self, cfg: TrainConfig) -> str:
        return cfg.recipe or cfg.model.name

    def build_data(self, cfg: TrainConfig, device: torch.device, rank: int,
                   world_size: int) -> Pipeline:
        return build_pipeline(cfg, device, rank, world_size)

    def build_model(self, cfg: TrainConfig, data: Pipeline, device: torch.device,
                    load_pretrained: bool) -> torch.nn.Module:
        model = build_model(cfg, len(data.classes), data.in_chans, device,
                            load_pretrained=load_pretrained)
        if cfg.quant.qat:
            from .qat import qat_model

            model = qat_model(model, cfg, data.in_chans, data.image_size)
        return model

    def build_step(self, cfg: TrainConfig, data: Pipeline):
        teacher = (load_teacher(cfg.distill.teacher, data.classes, data.in_chans)
                   if cfg.distill.teacher else None)
        objective = build_objective(cfg, data.mean, data.std, len(data.classes), teacher)

        def step(net, batch, device: torch.device) -> StepOutput:
            images, labels = batch_to_device(*batch, device, cfg.channels_last)
            loss, logits = objective(net, images, labels)
            n = len(labels)
            # Running sums for the epoch's training loss and error, kept on the device.
            return StepOutput(loss, {"loss": loss.detach().float() * n,
                                     "correct": (logits.argmax(1) == labels).sum(),
                                     "seen": n})

        return step

    def model_input(self, cfg: TrainConfig, batch, device: torch.device) -> torch.Tensor:
        return batch_to_device(*batch, device, cfg.channels_last)[0]  # (images, labels)

    def evaluate(self, model, data: Pipeline, cfg: TrainConfig, device: torch.device,
                 is_main: bool) -> dict[str, Any]:
        n, row = len(data.classes), {}

        def split(batches):
            return global_evaluation(evaluate(model, batches, n, device, cfg.precision,
                                              cfg.channels_last, show_progress=is_main,
                                              flip=cfg.data.eval_flip))

        if data.val is not None:
            val = split(data.val)
            row.update(val_loss=val["loss"], val_error=val["top1_error"])
        test = split(data.test)
        row.update(test_loss=test["loss"], test_error=test["top1_error"],
                   test_top5=test["top5_error"])
        return row

    def train_metrics(self, sums: dict[str, Any]) -> dict[str, float]:
        seen = max(int(sums["seen"]), 1)
        return {"train_loss": float(sums["loss"]) / seen,
                "train_error": 1 - float(sums["correct"]) / seen}

    def metadata(self, cfg: TrainConfig, data: Pipeline) -> dict[str, Any]:
        return image_metadata(cfg.model.name, data)

    def check_checkpoint(self, cfg: TrainConfig, state: dict[str, Any], data: Pipeline,
                         where: str) -> None:
        check_same_run(state, cfg.model.name, data.classes, where)

    def check_weights(self, model, state: dict[str, Any], data: Pipeline, where: str) -> None:
        check_fits(model, state.get("model"), where, len(data.classes))

    def progress_line(self, row: dict[str, Any], epochs: int) -> str:
        parts = [f"epoch {row['epoch']}/{epochs}", f"step {row['step']}",
                 f"lr {row['lr']:.4g}", f"train loss {row['train_loss']:.4f}",
                 f"train err {100 * row['train_error']:.2f}%"]
        if "val_error" in row:
            parts.append(f"val err {100 * row['val_error']:.2f}%")
        if "test_error" in row:
            parts.append(f"test err {100 * row['test_error']:.2f}%")
        parts.append(f"{row['images_per_second']:.0f} img/s")
        return "  ".join(parts)

    def summary(self, cfg: TrainConfig, common: dict[str, Any], last: dict[str, Any],
                best: float) -> dict[str, Any]:
        test_error = last.get("test_error")
        return {"run_dir": common["run_dir"], "model": cfg.model.name, "recipe": cfg.recipe,
                "steps": common["steps"], "epochs": common["epochs"],
                "test_error": test_error, "test_top5_error": last.get("test_top5"),
                "test_accuracy": None if test_error is None else 1 - test_error,
                "best_val_error": None if math.isinf(best) else best,
                "train_seconds": common["train_seconds"],
                "skipped_files": common["skipped_files"]}
