"""Averages of a run's weights that the engine keeps for evaluation: EMA and SWA.

EMA (``optim.ema_decay``, :mod:`resnets.train.ema`) folds the weights in after every step.
SWA (stochastic weight averaging, Izmailov et al. 2018, through ``torch.optim.swa_utils``)
averages them uniformly at the end of each epoch from ``optim.swa_start`` on, optionally at
the constant learning rate ``optim.swa_lr``. An average of weights does not come with the
BatchNorm statistics that fit it, so before the SWA weights are evaluated their statistics
are re-estimated over one pass of the training batches (as ``update_bn`` does, frozen stages
left alone) when the task can turn a batch into the model's input
(:meth:`~resnets.train.task.Task.model_input`); otherwise they keep the statistics of the
live model. That pass runs under its own random state, so SWA leaves the training itself
unchanged.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..errors import ResnetsError
from .ema import ModelEMA, unwrap_model
from .evaluate import autocast

# Entries of a training checkpoint that describe the training, not the weights: a file of
# averaged weights leaves them out (it evaluates and predicts, it does not resume).
TRAINING_STATE = ("optimizer", "optimizers", "ema", "swa", "gate", "scaler", "hooks", "rng",
                  "sums")


def check_averaging(cfg: Any) -> None:
    """Refuse SWA settings that cannot run, before any data is read."""
    o = cfg.optim
    if o.swa_start and o.ema_decay:
        raise ResnetsError("optim.ema_decay and optim.swa_start both average the weights for "
                           "evaluation; set one of them to 0")
    if o.swa_lr and not o.swa_start:
        raise ResnetsError("optim.swa_lr is the learning rate of SWA; set optim.swa_start too")
    if o.swa_start >= 1 and o.swa_start != int(o.swa_start):
        raise ResnetsError(f"optim.swa_start={o.swa_start:g}: a fraction of training (below 1) "
                           "or a whole number of epochs")
    if o.swa_start >= 1 and not cfg.iterations and o.swa_start >= cfg.epochs:
        raise ResnetsError(f"optim.swa_start={o.swa_start:g} leaves none of the {cfg.epochs} "
                           "epochs to average; lower it")


def swa_first_epoch(swa_start: float, epochs: int) -> int:
    """The 0-based epoch from which SWA averages: ``swa_start`` epochs, or that fraction of
    ``epochs``, are trained before it (the last epoch at the latest)."""
    first = int(swa_start) if swa_start >= 1 else math.floor(swa_start * epochs)
    return min(first, epochs - 1)


def trainable_batch_norms(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers whose statistics follow the data: not those of frozen stages
    (``frozen_stats``, :func:`resnets.train.finetune.freeze_stages`), which keep theirs."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and not getattr(m, "frozen_stats", False)]


@torch.no_grad()
def update_batch_norm(model: nn.Module, inputs: Iterable[Any]) -> None:
    """``torch.optim.swa_utils.update_bn`` for our models: the statistics of each BatchNorm
    become the cumulative average over ``inputs`` (momentum None), except those of frozen
    stages, which ``update_bn`` would reset and they could not learn again."""
    layers = trainable_batch_norms(model)
    momenta = [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    was_training = model.training
    model.train()
    for x in inputs:
        model(x)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    model.train(was_training)


class WeightAverages:
    """The EMA and SWA of ``model`` that ``cfg.optim`` asks for (either, or none)."""

    def __init__(self, cfg: Any, model: nn.Module, epochs: int) -> None:
        o = cfg.optim
        self.ema = ModelEMA(model, decay=o.ema_decay) if o.ema_decay else None
        self.swa = AveragedModel(unwrap_model(model)) if o.swa_start else None
        self.swa_from = swa_first_epoch(o.swa_start, epochs) if o.swa_start else 0
        self.swa_lr = o.swa_lr

    def lr(self, lr: float, epoch: int) -> float:
        """The learning rate of a step of ``epoch``: ``optim.swa_lr`` while SWA averages."""
        return self.swa_lr if self.swa and self.swa_lr and epoch >= self.swa_from else lr

    def after_step(self, model: nn.Module) -> None:
        if self.ema:
            self.ema.update(model)

    def end_epoch(self, model: nn.Module, epoch: int) -> None:
        if self.swa and epoch >= self.swa_from:
            self.swa.update_parameters(unwrap_model(model))

    @property
    def swa_ready(self) -> bool:
        """Whether SWA has averaged any weights yet."""
        return self.swa is not None and int(self.swa.n_averaged) > 0

    def for_evaluation(self, ctx: Any) -> nn.Module:
        """The model to evaluate: SWA's (with BatchNorm statistics re-estimated), else the
        EMA's, else the live one."""
        if self.swa_ready:
            averaged = self.swa.module
            for ours, live in zip(averaged.buffers(), ctx.model.buffers()):
                ours.copy_(live)  # what update_bn cannot estimate comes from the live model
            estimate_batch_norm(averaged, ctx.data.train,
                                lambda batch: ctx.task.model_input(ctx.cfg, batch, ctx.device),
                                ctx.device, ctx.cfg.precision, ctx.epoch)
            return averaged
        return self.ema.module if self.ema else ctx.model

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict() if self.ema else None,
                "swa": self.swa.state_dict() if self.swa else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ema and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        if self.swa and state.get("swa"):
            self.swa.load_state_dict(state["swa"])

    def averaged_checkpoint(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` (a training checkpoint) with the SWA weights, for ``swa.pt``."""
        kept = {k: v for k, v in state.items() if k not in TRAINING_STATE}
        return {**kept, "model": self.swa.module.state_dict(),
                "averaged": {"method": "swa", "models": int(self.swa.n_averaged)}}


def estimate_batch_norm(model: nn.Module, train: Any, model_input: Callable[[Any], Any],
                        device: torch.device, precision: str, epoch: int = 0) -> bool:
    """Re-estimate ``model``'s BatchNorm statistics over epoch ``epoch`` of the training
    batches ``train`` (the engine's data interface), each made the model's input by
    ``model_input``, under a random state of its own (the training's is left as it was).
    Returns whether it did: not when the model has no BatchNorm or ``model_input`` gives None
    (the statistics stay as they are)."""
    if not trainable_batch_norms(model):
        return False
    train.set_epoch(epoch, start=0)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), autocast(device, precision):
        inputs = (model_input(batch) for batch in itertools.islice(train, len(train)))
        first = next(inputs, None)
        if first is None:
            return False
        update_batch_norm(model, itertools.chain([first], inputs))
    return True
