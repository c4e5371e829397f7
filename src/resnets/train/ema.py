"""An exponential moving average (EMA) of a model's weights, for evaluation.

After each optimiser step, ``ema = d * ema + (1 - d) * weights``. With ``warmup=True`` the
decay used on update ``n`` is ``min(decay, (1 + n) / (10 + n))`` (the rule of TensorFlow's
``ExponentialMovingAverage`` with ``num_updates``), so the average is not dominated by the
random initial weights when ``decay`` is close to 1.

Buffers: BatchNorm running statistics are floating-point buffers. With
``average_buffers=True`` (the default) they are averaged with the same decay as the
parameters, so the statistics move as slowly as the weights they normalise; with False they are
copied from the live model on every update. Neither is exact for the averaged weights;
re-estimating BN statistics with the EMA weights on training data would be. Integer buffers
(``num_batches_tracked``) are always copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..errors import ResnetsError


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside ``torch.compile`` and (Distributed)DataParallel wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


class ModelEMA:
    """Keeps ``module``, an averaged copy of ``model`` in eval mode without gradients."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, warmup: bool = True,
                 average_buffers: bool = True,
                 device: str | torch.device | None = None) -> None:
        if not 0 < decay < 1:
            raise ResnetsError(f"the EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = warmup
        self.average_buffers = average_buffers
        self.updates = 0
        self.module = copy.deepcopy(unwrap_model(model)).eval().requires_grad_(False)
        if device is not None:
            self.module.to(device)

    def decay_at(self, updates: int) -> float:
        """The decay applied on update number ``updates`` (counted from 1)."""
        if self.warmup:
            return min(self.decay, (1.0 + updates) / (10.0 + updates))
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` (the one being trained) into the average."""
        self.updates += 1
        weight = 1.0 - self.decay_at(self.updates)
        source = unwrap_model(model)
        pairs = [(dict(self.module.named_parameters()), dict(source.named_parameters()), True),
                 (dict(self.module.named_buffers()), dict(source.named_buffers()),
                  self.average_buffers)]
        for ours, theirs, average in pairs:
            if ours.keys() != theirs.keys():
                raise ResnetsError("the model given to ModelEMA.update is not the one the EMA "
                                   "was built from (its parameter or buffer names differ)")
            for name, avg in ours.items():
                new = theirs[name].detach().to(device=avg.device, dtype=avg.dtype)
                if average and avg.is_floating_point():
                    avg.lerp_(new, weight)
                else:
                    avg.copy_(new)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates,
                "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
