"""Learning-rate schedules as pure functions of the iteration.

Every schedule maps an iteration index (0 for the first optimiser step) to a learning rate; no
state is kept, so resuming at iteration ``it`` needs nothing but ``it``. The one exception is
the ResNet-110 warm-up of He et al. 2015 (Sec. 4.2), which waits for the training error and is
therefore a small object, :class:`ErrorGatedWarmup`, applied on top of :func:`lr_at`.

Warm-up does not shift the schedule: iteration ``it`` of a cosine or step schedule is the same
with or without warm-up; warm-up only replaces (``constant``) or scales (``linear``) the first
``warmup_iters`` values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import ResnetsError, did_you_mean
from ..limits import Limit, check_fields, choice, integer, integers, number, setting_key

SCHEDULES = ("step", "multistep", "cosine", "constant", "cyclic")
WARMUP_MODES = ("linear", "constant")


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "cosine"  # step | multistep | cosine | constant | cyclic (one triangle)
    milestones: tuple[int, ...] = (32000, 48000)  # "step": iterations where lr *= gamma
    milestone_epochs: tuple[int, ...] = (30, 60)  # "multistep": epochs where lr *= gamma
    gamma: float = 0.1  # factor applied to the lr at each milestone, in (0, 1]
    min_lr: float = 0.0  # "cosine": absolute lr reached at the last iteration
    cycle_peak: float = 0.5  # "cyclic": share of training at which lr peaks, in (0, 1)
    warmup_iters: int = 0  # iterations of warm-up at the start of training; 0 = none
    warmup_epochs: int = 0  # warm-up counted in epochs instead (recipes: 5); 0 = none
    warmup_mode: str = "linear"  # linear: ramp from warmup_lr | constant: hold warmup_lr
    warmup_lr: float = 0.0  # absolute lr of the warm-up (and of the error-gated warm-up)
    warmup_until_error: float = 0.0  # hold warmup_lr until train error < this (0-1); 0 = off

    LIMITS: ClassVar[dict[str, Limit]] = {
        "name": choice(*SCHEDULES), "milestones": integers(1), "milestone_epochs": integers(1),
        "gamma": number(0, 1, open_low=True), "min_lr": number(0, 10),
        "cycle_peak": number(0, 1, open_low=True, open_high=True),
        "warmup_iters": integer(0), "warmup_epochs": integer(0, 100_000),
        "warmup_mode": choice(*WARMUP_MODES),
        "warmup_lr": number(0, 10), "warmup_until_error": number(0, 1),
    }
    KEY: ClassVar[str] = "schedule.{name}"

    def __post_init__(self) -> None:
        check_fields(self)
        key = functools.partial(setting_key, type(self))  # "schedule.x", or as keyed_as says
        _check_milestones(key("milestones"), self.milestones, self.name == "step")
        _check_milestones(key("milestone_epochs"), self.milestone_epochs,
                          self.name == "multistep")
        checks = [
            (not (self.warmup_iters and self.warmup_epochs),
             f"set {key('warmup_iters')} or {key('warmup_epochs')}, not both"),
            (self.warmup_mode != "constant" or self.warmup_iters + self.warmup_epochs == 0
             or self.warmup_lr > 0,
             f"{key('warmup_mode')}='constant' holds {key('warmup_lr')}: set it above 0"),
            (self.warmup_until_error == 0 or self.warmup_lr > 0,
             f"{key('warmup_until_error')} holds {key('warmup_lr')}: set it above 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ResnetsError(message)


def _check_milestones(key: str, values: tuple[int, ...], required: bool) -> None:
    if required and not values:
        raise ResnetsError(f"{key} is empty; give at least one, e.g. {key}=30,60")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ResnetsError(f"{key} must be strictly increasing, got {values}")


def step_lr(it: int, base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """``base_lr * gamma**k`` where ``k`` milestones (iterations) are ``<= it``.

    The ResNet paper's CIFAR schedule is ``step_lr(it, 0.1, (32000, 48000))``, run to 64000.
    """
    passed = sum(1 for m in milestones if it >= m)
    return base_lr * gamma ** passed


def multistep_lr(it: int, base_lr: float, milestone_epochs: Sequence[int],
                 steps_per_epoch: int, gamma: float = 0.1) -> float:
    """:func:`step_lr` with milestones given in epochs (the lr drops on an epoch's first step)."""
    if steps_per_epoch <= 0:
        raise ResnetsError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
    return step_lr(it, base_lr, [e * steps_per_epoch for e in milestone_epochs], gamma)


def cosine_lr(it: int, base_lr: float, total_iters: int, min_lr: float = 0.0) -> float:
    """Half a cosine from ``base_lr`` at iteration 0 to ``min_lr`` at ``total_iters`` (held)."""
    if total_iters <= 0:
        raise ResnetsError(f"total_iters must be positive, got {total_iters}")
    progress = min(max(it, 0), total_iters) / total_iters
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def cyclic_lr(it: int, base_lr: float, total_iters: int, peak: float = 0.5) -> float:
    """One triangle (Smith 2017; Wong et al. 2020's fast adversarial training): lr rises
    linearly from 0 to ``base_lr`` at ``peak * total_iters``, then falls linearly to 0 at
    ``total_iters``. Iteration ``it`` takes the value at the end of its step, ``it + 1``, so no
    step runs at lr 0."""
    if total_iters <= 0:
        raise ResnetsError(f"total_iters must be positive, got {total_iters}")
    t = min(max(it, 0) + 1, total_iters) / total_iters
    return base_lr * (t / peak if t <= peak else (1.0 - t) / (1.0 - peak))


def linear_warmup(it: int, warmup_iters: int, lr_after: float,
                  start_factor: float = 0.0) -> float:
    """Scale ``lr_after`` up in equal steps over the first ``warmup_iters`` iterations.

    The factor is ``start_factor + (1 - start_factor) * (it + 1) / warmup_iters``: above
    ``start_factor`` on the first step (so no step is wasted at lr 0) and exactly 1 on step
    ``warmup_iters - 1``; from ``warmup_iters`` on ``lr_after`` is returned unchanged.
    """
    if warmup_iters <= 0 or it >= warmup_iters:
        return lr_after
    fraction = (max(it, 0) + 1) / warmup_iters
    return lr_after * (start_factor + (1.0 - start_factor) * fraction)


def lr_at(it: int, cfg: ScheduleConfig, steps_per_epoch: int, total_iters: int,
          base_lr: float) -> float:
    """The learning rate of iteration ``it`` (0-based) under ``cfg``, peaking at ``base_lr``.

    ``total_iters`` is the length of training (cosine ends there); ``steps_per_epoch`` converts
    ``milestone_epochs`` and ``warmup_epochs``. The error-gated warm-up is not applied here
    (see ErrorGatedWarmup).
    """
    if base_lr <= 0:
        raise ResnetsError(f"the learning rate must be positive, got {base_lr}")
    if cfg.name == "cosine" and cfg.min_lr > base_lr:
        raise ResnetsError(f"schedule.min_lr={cfg.min_lr} is above the learning rate "
                           f"{base_lr}; lower it")
    if cfg.name == "step":
        lr = step_lr(it, base_lr, cfg.milestones, cfg.gamma)
    elif cfg.name == "multistep":
        lr = multistep_lr(it, base_lr, cfg.milestone_epochs, steps_per_epoch, cfg.gamma)
    elif cfg.name == "cosine":
        lr = cosine_lr(it, base_lr, total_iters, cfg.min_lr)
    elif cfg.name == "constant":
        lr = base_lr
    elif cfg.name == "cyclic":
        lr = cyclic_lr(it, base_lr, total_iters, cfg.cycle_peak)
    else:  # only reachable if the config was built without validation
        raise ResnetsError(f"unknown schedule {cfg.name!r}{did_you_mean(cfg.name, SCHEDULES)}")
    warmup = cfg.warmup_iters or cfg.warmup_epochs * steps_per_epoch
    if it < warmup:
        if cfg.warmup_mode == "constant":
            return cfg.warmup_lr
        return linear_warmup(it, warmup, lr, start_factor=cfg.warmup_lr / base_lr)
    return lr


class ErrorGatedWarmup:
    """He et al. 2015 (Sec. 4.2), ResNet-110: lr ``warm_lr`` until the training error < 80%.

    Feed it the training error (a fraction) with :meth:`update`; while the gate is closed
    :meth:`factor_or_lr` caps the scheduled lr at ``warm_lr``, afterwards it passes the
    scheduled lr through. Once the error has dropped below ``threshold`` the gate stays open
    for the rest of training (the paper goes "back to 0.1" once). Save :meth:`state_dict` in
    checkpoints so a resumed run does not warm up again.
    """

    def __init__(self, warm_lr: float = 0.01, threshold: float = 0.8) -> None:
        if warm_lr <= 0:
            raise ResnetsError(f"the warm-up lr must be positive, got {warm_lr}")
        if not 0 < threshold <= 1:
            raise ResnetsError(f"the warm-up error threshold is a fraction in (0, 1], "
                               f"got {threshold}")
        self.warm_lr = float(warm_lr)
        self.threshold = float(threshold)
        self.active = True

    @classmethod
    def from_config(cls, cfg: ScheduleConfig) -> ErrorGatedWarmup | None:
        """The gate that ``cfg`` asks for, or None when ``warmup_until_error`` is 0."""
        if cfg.warmup_until_error == 0:
            return None
        return cls(cfg.warmup_lr, cfg.warmup_until_error)

    def update(self, train_error: float) -> bool:
        """Record the latest training error (0-1); returns whether the gate is still closed."""
        if math.isnan(train_error):  # a diverging run keeps the small warm-up lr
            return self.active
        if not 0 <= train_error <= 1:
            raise ValueError(f"training error must be a fraction in [0, 1], got {train_error}")
        if train_error < self.threshold:
            self.active = False
        return self.active

    def factor_or_lr(self, scheduled_lr: float) -> float:
        """The lr to use: ``min(warm_lr, scheduled_lr)`` while warming up, else scheduled."""
        return min(self.warm_lr, scheduled_lr) if self.active else scheduled_lr

    def state_dict(self) -> dict[str, Any]:
        return {"active": self.active, "warm_lr": self.warm_lr, "threshold": self.threshold}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.active = bool(state["active"])


def apply_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's lr to ``lr`` times the group's ``lr_scale`` (default 1)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
