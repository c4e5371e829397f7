"""What a checkpoint says about its model and its run, checked before it is used.

A checkpoint's metadata (class names, image size, input channels, normalisation, the step it
was saved at) decides how large a model is built and how inputs are prepared, so it is read
back like user input: each fault is one :class:`CheckpointError` line naming the file and
the field, raised before a model or a tensor is allocated from it. ``where`` in each check
names the file in its message: ``"checkpoint 'runs/x/last.pt'"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import CheckpointError

# Bounds well above any real model, well below sizes that would exhaust memory.
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
MAX_IN_CHANS = 4096  # images have 1-4 channels; a text model's vocabulary is its channels
MAX_IMAGE_SIZE = 16384  # pixels per side (a text model: characters per sample)


def _refuse(where: str, field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{where}: {field} {problem}; the file is damaged or was not "
                           "written by resnets")


def check_count(value: Any, field: str, where: str, low: int = 0,
                high: int | None = None) -> int:
    """``value`` as an int in ``low..high``, else one line naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(where, field, f"is {value!r:.40}, not an integer")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise _refuse(where, field, f"is {value}, outside {bounds}")
    return value


def check_classes(classes: Any, where: str, field: str = "classes") -> list[str]:
    """A list of 1..MAX_CLASSES distinct strings."""
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        raise _refuse(where, field, "is not a list of class names")
    check_count(len(classes), f"the number of {field}", where, 1, MAX_CLASSES)
    if len(set(classes)) != len(classes):
        twice = next(c for i, c in enumerate(classes) if c in classes[:i])
        raise _refuse(where, field, f"name {twice!r} twice")
    return list(classes)


def image_metadata(model_name: str, data: Any) -> dict[str, Any]:
    """What a checkpoint of an image model keeps of its data (``data`` has ``classes``,
    ``in_chans``, ``image_size``, ``mean`` and ``std``): enough to preprocess new images."""
    return {"model_name": model_name, "classes": data.classes, "in_chans": data.in_chans,
            "image_size": data.image_size, "mean": data.mean, "std": data.std}


def check_same_run(state: Mapping[str, Any], model_name: str, classes: list[str],
                   where: str) -> None:
    """A checkpoint to resume holds the model ``model_name`` trained on ``classes``."""
    saved = state.get("model_name")
    if saved != model_name:
        raise CheckpointError(f"the checkpoint was trained with {saved!r}, not "
                              f"{model_name!r}; resume with the same model")
    if check_classes(state.get("classes"), where) != list(classes):
        raise CheckpointError(f"{where} was trained on other classes than the data holds "
                              "now; restore the data")


def _check_stats(state: Mapping[str, Any], where: str, in_chans: int) -> None:
    mean, std = state["mean"], state["std"]
    for field, values in (("mean", mean), ("std", std)):
        if isinstance(values, torch.Tensor):
            values = values.tolist()
        if not isinstance(values, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in values):
            raise _refuse(where, field, "is not a list of finite numbers")
        if len(values) not in (0, in_chans) or len(values) != len(mean):
            raise _refuse(where, field, f"has {len(values)} values for {in_chans} input "
                          "channels")
        if field == "std" and any(v <= 0 for v in values):
            raise _refuse(where, field, "holds a value <= 0")


def check_trained_model(state: Mapping[str, Any], where: str) -> None:
    """The metadata a classification checkpoint needs for evaluate and predict."""
    from ..models import model_info

    name = state["model_name"]
    if not isinstance(name, str):
        raise _refuse(where, "model_name", f"is {name!r:.40}, not a model name")
    try:
        model_info(name)
    except Exception:  # an unknown name: ResnetsError with the closest names
        raise _refuse(where, "model_name", f"{name!r} is not a registered model") from None
    check_classes(state["classes"], where)
    in_chans = check_count(state["in_chans"], "in_chans", where, 1, MAX_IN_CHANS)
    check_count(state["image_size"], "image_size", where, 1, MAX_IMAGE_SIZE)
    _check_stats(state, where, in_chans)


def check_fits(model: torch.nn.Module, weights: Mapping[str, torch.Tensor], where: str,
               classes: int) -> None:
    """The weights' names and shapes against ``model`` (built on the meta device, so nothing
    is allocated), naming the first field of the metadata that disagrees."""
    if not isinstance(weights, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in weights.values()):
        raise _refuse(where, "model", "is not a state dict of tensors")
    own = model.state_dict()
    for key, tensor in own.items():
        if key not in weights:
            raise _refuse(where, "model", f"has no {key!r} for its model_name")
        if tuple(weights[key].shape) != tuple(tensor.shape):
            what = (f"classes ({classes} names) do not fit the classifier"
                    if tensor.ndim and tensor.shape[0] == classes else "the weights' shape")
            raise _refuse(where, key, f"is {tuple(weights[key].shape)}, but its metadata "
                          f"makes it {tuple(tensor.shape)} ({what})")
    extra = [k for k in weights if k not in own]
    if extra:
        raise _refuse(where, "model", f"holds {extra[0]!r}, which its model_name has not")


def check_position(state: Mapping[str, Any], where: str, steps_per_epoch: int) -> None:
    """The step, epoch and position a training checkpoint was saved at, consistent with a
    run of ``steps_per_epoch`` steps per epoch."""
    step = check_count(state.get("step"), "step", where)
    epoch = check_count(state.get("epoch"), "epoch", where)
    position = check_count(state.get("position"), "position", where, 0, steps_per_epoch)
    if not position <= step <= epoch * steps_per_epoch + position:
        raise _refuse(where, "step", f"{step} does not match epoch {epoch} and position "
                      f"{position} at {steps_per_epoch} steps per epoch")
    best = state.get("best")
    if isinstance(best, bool) or not isinstance(best, (int, float)) or math.isnan(best):
        raise _refuse(where, "best", f"is {best!r:.40}, not a number")
    if not isinstance(state.get("sums"), Mapping):
        raise _refuse(where, "sums", "is not a dict of running sums")
