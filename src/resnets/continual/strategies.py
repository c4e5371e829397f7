"""Ways to learn a sequence of tasks, from plain fine-tuning to the classic defences.

The runner trains every task with cross-entropy on its batches; a strategy may add examples
to each batch (:meth:`Strategy.replay_data`), add a term to the loss (:meth:`Strategy.penalty`)
and look at the model and data before and after each task.

* ``finetune``: nothing else; the baseline that forgets (McCloskey and Cohen 1989).
* ``replay``: experience replay from a small fixed memory of past images (Chaudhry et al.
  2019, "On Tiny Episodic Memories in Continual Learning"): each step trains on the current
  batch plus an equally large batch drawn from the memory. The memory is class-balanced
  (every class seen keeps an equal share) or a reservoir sample of the stream (Vitter 1985).
* ``ewc``: elastic weight consolidation (Kirkpatrick et al. 2017): after task k, the diagonal
  Fisher information F_k of the weights on that task's data anchors the weights at theta*_k:
  L = CE + (lambda / 2) * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2 (with lambda * F capped
  at 1 / lr by the runner, see :class:`EWC`).
* ``lwf``: learning without forgetting (Li and Hoiem 2017): a frozen copy of the network from
  before the task provides soft targets on the current images for the classes seen so far:
  L = CE + alpha * T^2 * KL(softmax(old / T) || softmax(new / T)) over those classes.
"""

from __future__ import annotations

import copy
import random
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ArrayDataset
from ..errors import ResnetsError
from .splits import Task

STRATEGIES = ("finetune", "replay", "ewc", "lwf")
MEMORY_POLICIES = ("balanced", "reservoir")


class Strategy:
    """Fine-tuning: the hooks of the task loop, all doing nothing."""

    name = "finetune"

    def before_task(self, model: nn.Module, task: Task) -> None:
        """Called before the first step on ``task``."""

    def replay_data(self) -> ArrayDataset | None:
        """Past examples to add to every batch, or None."""
        return None

    def penalty(self, model: nn.Module, images: torch.Tensor, logits: torch.Tensor
                ) -> torch.Tensor | float:
        """What the strategy adds to the batch's cross-entropy."""
        return 0.0

    def after_task(self, model: nn.Module, task: Task, batches: Iterable) -> None:
        """Called after the last step on ``task``; ``batches`` are its training images,
        normalised, without augmentation."""

    def describe(self) -> dict:
        """What the summary records about the strategy's state."""
        return {}

    def state_dict(self) -> dict:
        """What the strategy carries to the next task (tensors, lists and numbers: saved
        with torch.save, read back with weights_only=True)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict` (a resumed sequence)."""


class ReplayMemory:
    """A fixed number of stored training images (uint8, on the CPU) with their labels."""

    def __init__(self, capacity: int, policy: str = "balanced", seed: int = 0) -> None:
        if capacity < 1:
            raise ResnetsError(f"the replay memory must hold at least 1 image, got {capacity}")
        if policy not in MEMORY_POLICIES:
            raise ResnetsError(f"unknown memory policy {policy!r}; choose one of "
                               f"{', '.join(MEMORY_POLICIES)}")
        self.capacity, self.policy = capacity, policy
        self.rng = random.Random(seed)
        self.data: ArrayDataset | None = None
        self.stream_seen = 0  # images the reservoir has been offered so far

    def __len__(self) -> int:
        return 0 if self.data is None else len(self.data)

    def class_counts(self) -> dict[int, int]:
        if self.data is None:
            return {}
        labels, counts = torch.unique(self.data.labels, return_counts=True)
        return dict(zip(labels.tolist(), counts.tolist()))

    def add(self, ds: ArrayDataset) -> None:
        """Take in a task's training set."""
        if self.policy == "reservoir":
            self._reservoir(ds)
        else:
            self._balanced(ds)

    def _balanced(self, ds: ArrayDataset) -> None:
        """Every class seen gets capacity // classes places (the first classes in the order
        they came get one more when it does not divide); old classes give up their last ones,
        new classes fill theirs with a random draw."""
        old = {} if self.data is None else {
            c: torch.nonzero(self.data.labels == c).flatten() for c in self.class_counts()}
        new = torch.unique(ds.labels).tolist()
        classes = list(old) + [c for c in new if c not in old]
        quota, extra = divmod(self.capacity, len(classes))
        parts_images, parts_labels = [], []
        for rank, c in enumerate(classes):
            places = quota + (rank < extra)
            if c in old:
                idx = old[c][:places]
                parts_images.append(self.data.images[idx])
            else:
                members = torch.nonzero(ds.labels == c).flatten().tolist()
                idx = torch.tensor(self.rng.sample(members, min(places, len(members))),
                                   dtype=torch.long)
                parts_images.append(ds.images[idx])
            parts_labels.append(torch.full((len(idx),), c, dtype=torch.long))
        self.data = ArrayDataset(torch.cat(parts_images), torch.cat(parts_labels),
                                 list(ds.classes))

    def _reservoir(self, ds: ArrayDataset) -> None:
        """Algorithm R: the n-th image of the stream replaces a random slot with probability
        capacity / n, so the memory is a uniform sample of everything seen."""
        slots = [] if self.data is None else list(range(len(self.data)))
        sources = [(self.data, i) for i in slots]
        for i in self.rng.sample(range(len(ds)), len(ds)):  # the task's stream order
            self.stream_seen += 1
            if len(sources) < self.capacity:
                sources.append((ds, i))
            else:
                j = self.rng.randrange(self.stream_seen)
                if j < self.capacity:
                    sources[j] = (ds, i)
        images = torch.stack([src.images[i] for src, i in sources])
        labels = torch.stack([src.labels[i] for src, i in sources])
        self.data = ArrayDataset(images, labels, list(ds.classes))


class Replay(Strategy):
    name = "replay"

    def __init__(self, memory: ReplayMemory) -> None:
        self.memory = memory

    def replay_data(self) -> ArrayDataset | None:
        return self.memory.data

    def after_task(self, model, task, batches) -> None:
        self.memory.add(task.train)

    def state_dict(self) -> dict:
        data, rng = self.memory.data, self.memory.rng.getstate()
        return {"images": None if data is None else data.images,
                "labels": None if data is None else data.labels,
                "classes": [] if data is None else list(data.classes),
                "rng": [rng[0], list(rng[1]), rng[2]], "stream_seen": self.memory.stream_seen}

    def load_state_dict(self, state: dict) -> None:
        memory = self.memory
        memory.data = None if state["images"] is None else ArrayDataset(
            state["images"], state["labels"], list(state["classes"]))
        version, internal, gauss = state["rng"]
        memory.rng.setstate((version, tuple(internal), gauss))
        memory.stream_seen = state["stream_seen"]

    def describe(self) -> dict:
        return {"memory_size": len(self.memory), "memory_policy": self.memory.policy,
                "memory_per_class": {str(k): v for k, v in self.memory.class_counts().items()}}


def diagonal_fisher(model: nn.Module, batches: Iterable, max_samples: int
                    ) -> dict[str, torch.Tensor]:
    """The empirical diagonal Fisher information: the mean over up to ``max_samples`` images
    of each weight's squared gradient of -log p(y | x), one gradient per image (torch.func).

    The model runs in eval mode (BatchNorm uses its running statistics), so each image's
    gradient is its own. The labels are the data's (the "empirical" Fisher, as most EWC
    implementations use, rather than labels sampled from the model).
    """
    from torch.func import functional_call, grad, vmap

    was_training = model.training
    model.eval()
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def neg_log_likelihood(weights, image, label):
        logits = functional_call(model, (weights, buffers), (image.unsqueeze(0),))
        return F.cross_entropy(logits.float(), label.unsqueeze(0))

    per_image = vmap(grad(neg_log_likelihood), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    seen = 0
    for images, labels in batches:
        take = min(len(labels), max_samples - seen)
        grads = per_image(params, images[:take], labels[:take])
        for n, g in grads.items():
            fisher[n] += g.square().sum(0)
        seen += take
        if seen >= max_samples:
            break
    model.train(was_training)
    if seen == 0:
        raise ResnetsError("EWC needs at least one training image to estimate the Fisher")
    return {n: f / seen for n, f in fisher.items()}


class EWC(Strategy):
    """Elastic weight consolidation with one anchor per task learned.

    ``max_curvature`` caps each weight's lambda * F (the curvature of its penalty): SGD with
    learning rate lr overshoots the anchor, and diverges, once lr * lambda * F exceeds 2 (with
    momentum 0.9, 3.8). A cap of 1 / lr keeps every step from passing the anchor; the runner
    sets it, since the Fisher of a well-trained task spans many orders of magnitude (measured
    on the digits: 1.2e-6 after the first task, 0.0017 after the second), so no single lambda is
    both felt on the first and stable on the second. None applies the penalty as published.
    """

    name = "ewc"

    def __init__(self, strength: float, fisher_samples: int = 500,
                 max_curvature: float | None = None) -> None:
        if strength < 0 or fisher_samples < 1:
            raise ResnetsError("--ewc-lambda must be >= 0 and the Fisher needs >= 1 sample")
        self.strength, self.fisher_samples = strength, fisher_samples
        self.max_curvature = max_curvature
        # Per task: (lambda * F_k capped, theta*_k), by parameter name.
        self.anchors: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []

    def after_task(self, model, task, batches) -> None:
        fisher = diagonal_fisher(model, batches, self.fisher_samples)
        weight = {n: self.strength * f for n, f in fisher.items()}
        if self.max_curvature is not None:
            weight = {n: w.clamp(max=self.max_curvature) for n, w in weight.items()}
        anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in fisher}
        self.anchors.append((weight, anchor))

    def penalty(self, model, images, logits):
        """(1 / 2) sum_k sum_i lambda F_k,i (theta_i - theta*_k,i)^2 (Kirkpatrick et al.,
        Eq. 3, one term per task learned)."""
        if not self.anchors:
            return 0.0
        weights = dict(model.named_parameters())
        total = sum((importance[n] * (weights[n] - anchor[n]).square()).sum()
                    for importance, anchor in self.anchors for n in importance)
        return 0.5 * total

    def state_dict(self) -> dict:
        return {"anchors": [[weight, anchor] for weight, anchor in self.anchors]}

    def load_state_dict(self, state: dict) -> None:
        self.anchors = [(weight, anchor) for weight, anchor in state["anchors"]]

    def describe(self) -> dict:
        return {"ewc_lambda": self.strength, "fisher_samples": self.fisher_samples,
                "max_curvature": self.max_curvature, "anchored_tasks": len(self.anchors)}


def distillation_loss(new_logits: torch.Tensor, old_logits: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(old / T) || softmax(new / T)), averaged over the batch (Hinton et al.
    2015; Li and Hoiem 2017, Eq. 2 up to the old outputs' entropy, which has no gradient)."""
    old = F.log_softmax(old_logits.float() / temperature, dim=1)
    new = F.log_softmax(new_logits.float() / temperature, dim=1)
    return temperature ** 2 * F.kl_div(new, old, reduction="batchmean", log_target=True)


class LwF(Strategy):
    name = "lwf"

    def __init__(self, alpha: float, temperature: float = 2.0) -> None:
        if alpha < 0 or temperature <= 0:
            raise ResnetsError("--lwf-alpha must be >= 0 and --lwf-temperature > 0")
        self.alpha, self.temperature = alpha, temperature
        self.old_model: nn.Module | None = None
        self.old_classes: list[int] = []
        self.seen_classes: list[int] = []

    def before_task(self, model, task) -> None:
        self.old_classes = list(self.seen_classes)
        if self.old_classes:
            self.old_model = copy.deepcopy(model).eval().requires_grad_(False)
        self.seen_classes += [c for c in task.classes if c not in self.seen_classes]

    def penalty(self, model, images, logits):
        if self.old_model is None or not self.old_classes:
            return 0.0
        with torch.no_grad():
            old_logits = self.old_model(images)
        cols = torch.tensor(self.old_classes, device=logits.device)
        return self.alpha * distillation_loss(logits[:, cols], old_logits[:, cols],
                                              self.temperature)

    def state_dict(self) -> dict:
        return {"seen_classes": list(self.seen_classes)}

    def load_state_dict(self, state: dict) -> None:
        self.seen_classes = list(state["seen_classes"])

    def describe(self) -> dict:
        return {"lwf_alpha": self.alpha, "lwf_temperature": self.temperature}
