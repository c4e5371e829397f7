"""What a training run holds while it runs, and the named points where hooks see it."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch



class StopRequested(Exception):
    """Raised inside the loop when Ctrl-C asked for a stop at a step boundary."""


class Hook:
    """Named points of the loop. Override what you need; state is saved with checkpoints."""

    def on_train_start(self, ctx: "Context") -> None: ...
    def after_backward(self, ctx: "Context") -> None: ...
    def on_step_end(self, ctx: "Context") -> None: ...
    def on_epoch_end(self, ctx: "Context", row: dict) -> None: ...
    def on_train_end(self, ctx: "Context", summary: dict) -> None: ...
    def state_dict(self) -> dict: return {}
    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class Context:
    """What a run holds; hooks read it."""

    cfg: Any  # the task's configuration (an EngineConfig)
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    data: Any  # what the task's build_data returned (TaskData or the like)
    run_dir: Path
    device: torch.device
    step: int = 0  # optimiser steps taken
    epoch: int = 0  # current epoch (0-based)
    position: int = 0  # batches of the current epoch already consumed
    best: float = math.inf  # the best value of the task's monitored metric so far
    sums: dict = field(default_factory=dict)  # the epoch's running sums of the steps
    loss: torch.Tensor | None = None
    is_main: bool = True  # rank 0 writes files
    world_size: int = 1  # processes training together
    peak_lr: float = 0.0  # optim.lr after the linear scaling rule
    stop_requested: bool = False  # set by Ctrl-C; the loop stops after the current step
    step_fn: Any = None  # (net, batch, device) -> StepOutput: the task's build_step
    task: Any = None  # the Task being trained
    scaler: Any = None  # torch.amp.GradScaler (enabled for fp16)
    ddp: Any = None  # the DistributedDataParallel wrapper, when there is one
    updates: Any = None  # the task's extra optimisers (resnets.train.multi.Updates), if any


@contextlib.contextmanager
def stop_on_interrupt(ctx: "Context"):
    """Turn the first Ctrl-C into a request to stop at the end of the current step.

    The loop then saves a checkpoint on a step boundary, so the resumed run continues exactly.
    A second Ctrl-C interrupts at once. With several processes SIGTERM does the same as Ctrl-C
    and neither interrupts: torchrun forwards its signal to every process, waits, then kills.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if ctx.stop_requested and ctx.world_size == 1:  # torchrun kills slow processes itself
            raise KeyboardInterrupt
        ctx.stop_requested = True

    signals = (signal.SIGINT, signal.SIGTERM) if ctx.world_size > 1 else (signal.SIGINT,)
    previous = {s: signal.signal(s, request_stop) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class StopAfterStep(Hook):
    """Stop the run after optimiser step ``step``, saving a checkpoint as Ctrl-C does.

    Useful to split a long run into sessions (resume later with ``--resume``) and to test
    resumption.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, ctx: Context) -> None:
        if ctx.step == self.step:
            ctx.stop_requested = True
