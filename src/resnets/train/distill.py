"""Knowledge distillation as a training objective (Hinton, Vinyals & Dean 2015, "Distilling
the Knowledge in a Neural Network", arXiv:1503.02531).

With ``distill.teacher=RUN_DIR`` a classification run (``resnets train``, ``speech train``,
``text train``) minimises

    (1 - w) * CE(student, labels) + w * T^2 * KL(softmax(teacher / T) || softmax(student / T))

where ``w`` is ``distill.weight`` and ``T`` ``distill.temperature``; the T^2 keeps the soft
term's gradients on the scale of the hard term's as T grows (Sec. 2 of the paper). The
teacher is a trained run of ours, read like ``resnets evaluate`` reads one (its config checked,
its weights loaded with ``weights_only=True``), kept in eval mode with no gradients: it sees
the same augmented batch as the student and changes nothing that a checkpoint must hold, so a
distilled run resumes bit for bit like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import CheckpointError, ResnetsError


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                      temperature: float, weight: float,
                      hard: torch.Tensor | None = None) -> torch.Tensor:
    """Hinton et al.'s loss for a batch of logits; ``hard`` replaces the plain cross-entropy
    term when the objective has its own (label smoothing, BCE)."""
    student, teacher = student.float(), teacher.float()
    if hard is None:
        hard = F.cross_entropy(student, labels)
    soft = F.kl_div(F.log_softmax(student / temperature, dim=1),
                    F.log_softmax(teacher / temperature, dim=1), log_target=True,
                    reduction="batchmean")
    return (1 - weight) * hard + weight * temperature ** 2 * soft


def check_teacher(spec: str) -> None:
    """Refuse a ``distill.teacher`` that is no trained run, before any work."""
    path = Path(spec).expanduser()
    if not (path / "config.json").is_file() or not (path / "last.pt").is_file():
        raise CheckpointError(f"distill.teacher={spec!r} is not a trained run directory (no "
                              "config.json and last.pt there); give a run of resnets train")


class Teacher(torch.nn.Module):
    """A trained run's frozen model that reads the student's inputs: images normalised with
    the student's data statistics are brought to the teacher's own first (a run on a share
    of the data normalises with that share's mean and std)."""

    def __init__(self, model: torch.nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.mean, self.std = list(mean), list(std)

    def forward(self, x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
        if x.is_floating_point() and (mean, std) != (self.mean, self.std) and x.dim() >= 3:
            def per_channel(values):
                return torch.tensor(values, dtype=x.dtype, device=x.device).view(
                    1, -1, *([1] * (x.dim() - 2)))
            pixels = x * per_channel(std) + per_channel(mean)
            x = (pixels - per_channel(self.mean)) / per_channel(self.std)
        return self.model(x)


def load_teacher(spec: str, classes: list[str], in_chans: int) -> Teacher:
    """The teacher run's model on the CPU, in eval mode and frozen, after checking that it
    knows the same classes, in the same order, from inputs of as many channels."""
    from .inference import load_trained

    check_teacher(spec)
    model, state, _ = load_trained(Path(spec).expanduser(), torch.device("cpu"))
    if list(state["classes"]) != list(classes):
        raise ResnetsError(f"distill.teacher={spec!r} was trained on other classes "
                           f"({len(state['classes'])}) than this run's data "
                           f"({len(classes)}); give a teacher trained on the same data")
    if state["in_chans"] != in_chans:
        raise ResnetsError(f"distill.teacher={spec!r} reads {state['in_chans']}-channel "
                           f"inputs, this data has {in_chans}; give a teacher of this data")
    for p in model.parameters():
        p.requires_grad_(False)
    return Teacher(model, state["mean"], state["std"]).eval()


def distill_objective(objective: Callable, teacher: Teacher, temperature: float,
                      weight: float, channels_last: bool, mean: list[float],
                      std: list[float]) -> Callable:
    """``objective`` (the run's own hard-label loss) with the teacher's soft targets added;
    ``mean`` and ``std`` normalised the student's inputs."""
    placed: dict[str, torch.nn.Module] = {}

    def distilled(net, images, labels):
        hard, logits = objective(net, images, labels)
        key = str(images.device)
        if key not in placed:  # moved once, to wherever the batches are
            moved = teacher.to(images.device)
            placed[key] = moved.to(memory_format=torch.channels_last) if (
                channels_last and images.dim() == 4) else moved
        with torch.no_grad():
            teacher_logits = placed[key](images, mean, std)
        loss = distillation_loss(logits, teacher_logits, labels, temperature, weight, hard)
        return loss, logits

    return distilled
