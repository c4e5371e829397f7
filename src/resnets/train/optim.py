"""The SGD optimiser of the ResNet papers (and AdamW), with optional no-decay parameter groups.

He et al. 2015 decay every parameter (weight decay 1e-4, momentum 0.9). Later practice
(Goyal et al. 2017, "Bag of Tricks" 2018) leaves normalisation parameters and biases undecayed,
since shrinking a BN scale or a bias does not regularise the function the way shrinking a
weight does; ``decay_norm_and_bias=False`` selects that.

Fine-tuning a pretrained network usually trains the new classifier at the full learning rate
and the pretrained backbone more gently: ``backbone_lr_scale`` < 1 puts the backbone in groups
of their own, whose ``lr_scale`` the schedule multiplies into every step's lr.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ResnetsError
from .layerwise import LAMB, LARS

LAYERWISE = ("lamb", "lars")  # the layer-wise adaptive optimisers (large batches)

# Modules whose parameters (scale and shift) are normalisation parameters.
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm, nn.SyncBatchNorm, nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.RMSNorm,
)


def split_decay(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters as ``(decayed, undecayed)``: norm parameters and biases undecayed.

    Each parameter appears once even when modules share it; frozen parameters are left out.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        is_norm = isinstance(module, NORM_TYPES)
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            (no_decay if is_norm or name == "bias" else decay).append(param)
    return decay, no_decay


def build_optimizer(model: nn.Module, lr: float, momentum: float = 0.9,
                    weight_decay: float = 1e-4, nesterov: bool = False,
                    decay_norm_and_bias: bool = True,
                    backbone_lr_scale: float = 1.0,
                    name: str = "sgd") -> torch.optim.Optimizer:
    """SGD (``name="sgd"``), AdamW (``"adamw"``), LAMB or LARS over ``model``'s trainable
    parameters (:mod:`resnets.train.layerwise`: norm parameters and biases are neither
    decayed nor adapted there, whatever ``decay_norm_and_bias``).

    AdamW decays the weights apart from the gradient step (Loshchilov and Hutter 2019), by
    ``lr * weight_decay`` per step; ``momentum`` is SGD's momentum and AdamW's beta1
    (default 0.9 either way; GANs use 0), ``nesterov`` SGD's.

    Groups carry a ``name`` ("decay" / "no_decay") and an ``lr_scale``, which
    :func:`resnets.train.schedules.apply_lr` multiplies into the scheduled lr. With
    ``backbone_lr_scale`` other than 1 the classifier's parameters form groups of their own
    ("head_decay" / "head_no_decay", scale 1) and the backbone's groups have scale
    ``backbone_lr_scale``; at 0 the backbone is left out of the optimiser altogether.
    """
    checks = [
        (math.isfinite(lr) and lr > 0, f"the learning rate must be positive, got {lr}"),
        (0 <= momentum < 1, f"momentum must be in [0, 1), got {momentum}"),
        (math.isfinite(weight_decay) and weight_decay >= 0,
         f"weight decay must be >= 0, got {weight_decay}"),
        (not nesterov or momentum > 0, "Nesterov momentum needs momentum > 0; set momentum "
                                       "(e.g. 0.9) or turn nesterov off"),
        (math.isfinite(backbone_lr_scale) and backbone_lr_scale >= 0,
         f"the backbone's lr scale must be >= 0, got {backbone_lr_scale}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ResnetsError(message)
    decay, no_decay = split_decay(model)
    if decay_norm_and_bias and name not in LAYERWISE:  # LARS/LAMB always leave them out
        decay, no_decay = decay + no_decay, []
    sets = [("decay", decay, weight_decay, 1.0), ("no_decay", no_decay, 0.0, 1.0)]
    if backbone_lr_scale != 1.0:
        from .finetune import head_parameters

        head = head_parameters(model)
        split = []
        for group, params, wd, _ in sets:
            split.append((group, [p for p in params if id(p) not in head], wd,
                          backbone_lr_scale))
            split.append((f"head_{group}", [p for p in params if id(p) in head], wd, 1.0))
        sets = [entry for entry in split if entry[3] > 0]  # scale 0: the backbone stays put
    groups = [{"params": params, "weight_decay": wd, "name": group, "lr_scale": scale,
               "lr": lr * scale} for group, params, wd, scale in sets if params]
    if name in LAYERWISE:  # norm parameters and biases: neither decayed nor adapted
        for group in groups:
            group["adapt"] = not group["name"].endswith("no_decay")
    if not groups:
        raise ResnetsError(f"{type(model).__name__} has no trainable parameters "
                           "(are they all frozen?)")
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay,
                                 betas=(momentum, 0.999))
    if name == "lamb":
        return LAMB(groups, lr=lr, weight_decay=weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                    nesterov=nesterov)
    if name != "sgd":
        raise ResnetsError(f"optim.name={name!r} is not an optimiser here; use one of "
                           "sgd, adamw, lamb, lars")
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov)


def scaled_lr(lr: float, batch_size: int, reference_batch: int) -> float:
    """The linear scaling rule (Goyal et al. 2017): ``lr * batch_size / reference_batch``.

    ``lr`` is tuned for a global batch of ``reference_batch`` images; 0 turns the rule off.
    """
    if reference_batch < 0:
        raise ResnetsError(f"optim.scale_lr_with_batch must be >= 0 (0 turns it off), got "
                           f"{reference_batch}")
    return lr * batch_size / reference_batch if reference_batch else lr
