"""Optimisers that a task adds beside the engine's own, for models trained in turns.

Adversarial training updates two networks with two losses: a discriminator (or critic) takes
``n_dis`` steps of its own loss for every step of the generator, at a learning rate of its own
(the two time-scale update rule, Heusel et al. 2017). The engine keeps optimising what
:meth:`~resnets.train.task.Task.optimized_module` names with ``optim``/``schedule``, exactly as
for every task; a task that declares :meth:`~resnets.train.task.Task.extra_optimizers` also gets
an :class:`Updates` in ``build_step(cfg, data, updates=...)``, and its step calls
``updates.step(name, loss)`` for each update of another part before it returns the loss of the
engine's optimiser. Each extra optimiser has its own :class:`OptimConfig`, schedule (the run's
unless named) and gradient scaler; the learning rates follow the engine's step, and the
checkpoint holds the state of every one, so a resumed run continues bit-for-bit.

Several processes: the extra losses are computed on the model itself, not through the DDP
wrapper (DDP expects one backward per forward over all its parameters), so :meth:`Updates.step`
averages their gradients over the processes itself.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, ResnetsError
from .optim import build_optimizer, scaled_lr
from .schedules import ScheduleConfig, apply_lr, lr_at
from .sections import OptimConfig


@dataclass
class ExtraOptimizer:
    """One part of the model with an optimiser of its own (a task's declaration)."""

    name: str  # what the step passes to Updates.step, e.g. "discriminator"
    module: nn.Module  # whose trainable parameters it updates
    optim: OptimConfig  # its section, e.g. cfg.d_optim
    schedule: ScheduleConfig | None = None  # None: the run's schedule


class Updates:
    """The extra optimisers of a run: ``step(name, loss)`` is one update of that part."""

    def __init__(self, specs: list[ExtraOptimizer], cfg: Any, device: torch.device,
                 world_size: int) -> None:
        if cfg.optim.accum_steps != 1:
            raise ResnetsError("this task updates its parts in turns, which gradient "
                               "accumulation would mix up; set optim.accum_steps=1")
        self.specs = {s.name: s for s in specs}
        self.cfg, self.world_size = cfg, world_size
        self.peak = {s.name: scaled_lr(s.optim.lr, cfg.batch_size, s.optim.scale_lr_with_batch)
                     for s in specs}
        self.optimizers = {s.name: _build(s, self.peak[s.name]) for s in specs}
        self.scalers = {s.name: torch.amp.GradScaler(device.type,
                                                     enabled=cfg.precision == "fp16")
                        for s in specs}
        self.ctx: Any = None  # () -> the engine's Context (a weak reference), once bound
        self.steps_per_epoch, self.total_steps = 1, 1

    @classmethod
    def for_task(cls, task: Any, cfg: Any, model: nn.Module, device: torch.device,
                 world_size: int) -> "Updates | None":
        """The task's extra optimisers, or None when it declares none."""
        specs = task.extra_optimizers(cfg, model)
        return cls(specs, cfg, device, world_size) if specs else None

    def bind(self, ctx: Any, steps_per_epoch: int, total_steps: int) -> None:
        """Follow the engine's step count (``ctx.step``) for the learning rates.

        The context holds the step function, which holds these updates: a strong reference
        back would make a cycle that keeps the DDP model alive past the end of the run, to
        the interpreter's exit, where destroying the Gloo group it holds aborts the process.
        """
        self.ctx = weakref.ref(ctx)
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps

    def step(self, name: str, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` into part ``name`` alone and take one step of its
        optimiser, at its scheduled learning rate for the engine's current step."""
        if name not in self.optimizers:
            raise KeyError(f"no extra optimiser {name!r}; declared: {sorted(self.optimizers)}")
        spec, optimizer, scaler = self.specs[name], self.optimizers[name], self.scalers[name]
        params = [p for group in optimizer.param_groups for p in group["params"]]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward(inputs=params)  # the other parts' gradients stay as they are
        if self.world_size > 1:
            for p in params:  # as DDP would: the mean over the processes' batches
                grad = p.grad if p.grad is not None else torch.zeros_like(p)
                torch.distributed.all_reduce(grad)
                p.grad = grad / self.world_size
        scaler.unscale_(optimizer)
        if spec.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, spec.optim.grad_clip)
        ctx = self.ctx() if self.ctx is not None else None
        step = ctx.step if ctx is not None else 0
        apply_lr(optimizer, lr_at(step, spec.schedule or self.cfg.schedule,
                                  self.steps_per_epoch, self.total_steps, self.peak[name]))
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {name: {"optimizer": opt.state_dict(),
                       "scaler": self.scalers[name].state_dict()
                       if self.scalers[name].is_enabled() else None}
                for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict[str, Any] | None, where: str) -> None:
        if not state or set(state) != set(self.optimizers):
            raise CheckpointError(f"{where} holds the optimisers {sorted(state or {})}, not "
                                  f"{sorted(self.optimizers)}; resume a run of this task")
        for name, entry in state.items():
            self.optimizers[name].load_state_dict(entry["optimizer"])
            if self.scalers[name].is_enabled() and entry.get("scaler"):
                self.scalers[name].load_state_dict(entry["scaler"])


def _build(spec: ExtraOptimizer, lr: float) -> torch.optim.Optimizer:
    o = spec.optim
    return build_optimizer(spec.module, lr=lr,
                           momentum=o.momentum, weight_decay=o.weight_decay,
                           nesterov=o.nesterov, decay_norm_and_bias=o.decay_norm_and_bias,
                           backbone_lr_scale=o.backbone_lr_scale, name=o.name)


def build_step(task: Any, cfg: Any, data: Any, updates: Updates | None):
    """The task's step function; a task with extra optimisers gets their ``updates``."""
    return task.build_step(cfg, data, updates=updates) if updates else task.build_step(cfg, data)
