"""Loading a backbone from someone else's state dict: names mapped, stem adapted, head new.

Sources: our own run directories and checkpoints, torchvision's files (published or saved by
a user), and timm's ``resnet*`` / ``densenet*`` state dicts. Our ResNets use torchvision's
names, which timm's ResNets share, so most files load as they are. What needs mapping:

* torchvision's published DenseNet files name a dense layer's parts ``norm.1``, ``conv.2``
  (written before PyTorch refused dots in module names): they become ``norm1``, ``conv2``;
* a state dict saved from a wrapper (``model.``, ``backbone.``, ...) loses the wrapper's
  prefix when that makes the names fit (``module.`` and ``_orig_mod.`` are already removed
  by :func:`resnets.weights.read_state_dict`);
* BatchNorm layers saved before PyTorch 0.4.1 have no ``num_batches_tracked``; the model's
  own (zero) counter is kept.

The classifier is loaded only when its shape fits; otherwise the model keeps its fresh one
(the user's classes). A stem for other than 3 input channels is derived from the RGB one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from torch import nn

from ..weights import check_compatible

_DENSE_LAYER_DOT = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def head_prefix(model: nn.Module) -> str:
    """The state-dict prefix of the classifier: ``fc.`` or ``classifier.``."""
    return getattr(model, "head_name", "fc") + "."


def first_conv_key(model: nn.Module) -> str | None:
    """The state-dict key of the first convolution's weight (the stem), if any."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return f"{name}.weight"
    return None


def _strip_wrapper_prefix(state: dict[str, torch.Tensor],
                          own: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a first name component shared by every key when that makes more keys fit."""
    firsts = {key.partition(".")[0] for key in state}
    if len(firsts) != 1 or not all("." in key for key in state):
        return state
    stripped = {key.partition(".")[2]: value for key, value in state.items()}
    if len(stripped.keys() & own.keys()) > len(state.keys() & own.keys()):
        return stripped
    return state


def convert_state_dict(state: Mapping[str, torch.Tensor],
                       model: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` renamed to ``model``'s parameter names (see the module docstring)."""
    own = model.state_dict()
    renamed = {_DENSE_LAYER_DOT.sub(r"\1\2.", key): value for key, value in state.items()}
    renamed = _strip_wrapper_prefix(renamed, own)
    for key, value in own.items():  # counters that files from before PyTorch 0.4.1 lack
        stem = key.rpartition(".")[0]
        if (key.endswith(".num_batches_tracked") and key not in renamed
                and f"{stem}.running_mean" in renamed):
            renamed[key] = value
    return renamed


def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A stem filter bank for ``in_chans`` input channels made from an RGB one.

    One channel: the sum over R, G and B, so a grey image gives the response the RGB filters
    give to that grey replicated three times. Other counts: the RGB filters repeated
    cyclically and scaled by ``3 / in_chans`` (timm's convention), which keeps the response
    to a constant image exactly when ``in_chans`` is a multiple of 3 and roughly otherwise.
    """
    rgb = weight.shape[1]
    if in_chans == rgb:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_chans / rgb)
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (rgb / in_chans)


def load_backbone(model: nn.Module, state: Mapping[str, torch.Tensor],
                  source: str = "the weights") -> dict[str, bool]:
    """Load every backbone tensor of ``state`` into ``model`` (strictly), in place.

    The classifier comes along only when every one of its tensors fits; a stem convolution
    for a different number of input channels is adapted. Anything else that does not fit
    raises one :class:`~resnets.errors.CheckpointError` naming the keys. Returns what was
    done: ``{"head_loaded": ..., "stem_adapted": ...}``.
    """
    own = model.state_dict()
    state = convert_state_dict(state, model)
    head = head_prefix(model)
    own_head = {k: v for k, v in own.items() if k.startswith(head)}
    their_head = {k: v for k, v in state.items() if k.startswith(head)}
    head_loaded = bool(own_head) and their_head.keys() == own_head.keys() and all(
        their_head[k].shape == own_head[k].shape for k in own_head)
    merged = {k: v for k, v in state.items() if not k.startswith(head)}
    merged.update(their_head if head_loaded else own_head)
    stem = first_conv_key(model)
    stem_adapted = False
    if stem and stem in merged and stem in own:
        theirs, mine = merged[stem], own[stem]
        if (theirs.dim() == 4 and theirs.shape[1] != mine.shape[1]
                and theirs.shape[0] == mine.shape[0] and theirs.shape[2:] == mine.shape[2:]):
            merged[stem] = adapt_input_conv(theirs, mine.shape[1])
            stem_adapted = True
    check_compatible(model, merged, source=source)
    model.load_state_dict(merged)
    return {"head_loaded": head_loaded, "stem_adapted": stem_adapted}
