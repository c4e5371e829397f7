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

Feature distillation (``distill.attention=BETA``) is attention transfer (Zagoruyko &
Komodakis 2017, "Paying More Attention to Attention", arXiv:1612.03928): at each stage output
the spatial attention map, the channel mean of the squared activations flattened and
L2-normalised per image, of the student is pulled to the teacher's, adding
BETA / 2 x the sum over stages of their mean squared difference (their code uses BETA = 1000).
It needs no trainable state besides the student, so checkpoints, evaluation and export
are unchanged; the stages pair from the last (the stem's output is left out), and a student
map of another size is area-pooled to the teacher's. The stage outputs are read with forward
hooks on the modules ``feature_info`` names, the same on the student and the teacher.
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


def attention_map(features: torch.Tensor, size: tuple[int, ...] | None = None) -> torch.Tensor:
    """N x P: the channel mean of the squared activations of an N x C x ... stage output,
    area-pooled to ``size`` when given, flattened and L2-normalised per image."""
    energy = features.float().pow(2).mean(dim=1)
    if size is not None and tuple(energy.shape[1:]) != tuple(size):
        energy = F.interpolate(energy.unsqueeze(1), size=size, mode="area").squeeze(1)
    return F.normalize(energy.flatten(1), dim=1)


def attention_transfer_loss(student: list[torch.Tensor], teacher: list[torch.Tensor],
                            beta: float) -> torch.Tensor:
    """``beta`` / 2 x the sum over the paired stage outputs of the mean squared difference
    of their attention maps (the student's pooled to the teacher's size)."""
    total = student[0].new_zeros((), dtype=torch.float32)
    for s, t in zip(student, teacher, strict=True):
        total = total + (attention_map(s, t.shape[2:]) - attention_map(t)).pow(2).mean()
    return beta / 2 * total


class StageTap:
    """Keeps the outputs of the named modules of ``model`` from its latest forward pass."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.names = names
        for name in names:
            model.get_submodule(name).register_forward_hook(self._keeper(name))

    def _keeper(self, name: str):
        def keep(module, inputs, output):
            self.outputs[name] = output
        return keep

    def take(self) -> list[torch.Tensor]:
        """The outputs, in the order of ``names``, forgotten once taken."""
        outputs = [self.outputs.pop(name) for name in self.names]
        self.outputs.clear()
        return outputs


def paired_stages(student: torch.nn.Module, teacher: torch.nn.Module
                  ) -> tuple[list[str], list[str]]:
    """The module names of the stage outputs attention transfer pairs: the last k of each
    model's ``feature_info`` after the stem's, k the fewer of the two."""
    names = [[f["module"] for f in getattr(m, "feature_info", [])][1:]
             for m in (student, teacher)]
    k = min(len(n) for n in names)
    if k == 0:
        raise ResnetsError("distill.attention pairs stage outputs, and the student or the "
                           "teacher has none after its stem; set distill.attention=0")
    return names[0][-k:], names[1][-k:]


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
                      std: list[float], attention: float = 0.0) -> Callable:
    """``objective`` (the run's own hard-label loss) with the teacher's soft targets added,
    and with ``attention`` > 0 attention transfer at the paired stage outputs; ``mean`` and
    ``std`` normalised the student's inputs."""
    from .ema import unwrap_model

    placed: dict[str, torch.nn.Module] = {}
    taps: dict[int, tuple[StageTap, StageTap]] = {}

    def distilled(net, images, labels):
        if attention:
            student = unwrap_model(net)
            if id(student) not in taps:  # hooked once, before its first pass
                names = paired_stages(student, teacher.model)
                taps[id(student)] = (StageTap(student, names[0]),
                                     StageTap(teacher.model, names[1]))
            student_tap, teacher_tap = taps[id(student)]
        hard, logits = objective(net, images, labels)
        key = str(images.device)
        if key not in placed:  # moved once, to wherever the batches are
            moved = teacher.to(images.device)
            placed[key] = moved.to(memory_format=torch.channels_last) if (
                channels_last and images.dim() == 4) else moved
        with torch.no_grad():
            teacher_logits = placed[key](images, mean, std)
        loss = distillation_loss(logits, teacher_logits, labels, temperature, weight, hard)
        if attention:
            loss = loss + attention_transfer_loss(student_tap.take(), teacher_tap.take(),
                                                  attention)
        return loss, logits

    return distilled
