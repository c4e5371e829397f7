"""One strict registry of every model: ``create_model(name)`` and ``list_models(pattern)``.

Builders register themselves with ``@register_model(...)``; a duplicate name is an error, so
the CLI, the docs and the tests can enumerate the registry and trust what they find. The
package's ``__init__`` imports every family module, which fills the registry before anyone
can call it (the registry itself imports no family: they import it).
"""

from __future__ import annotations

import fnmatch
import re
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ResnetsError, did_you_mean
from .features import FeatureListNet, Indices, feature_take_indices
from .mapping import load_backbone
from .pretrained import fetch_state_dict, published_weights


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model name."""

    name: str
    builder: Callable[..., nn.Module]
    family: str  # e.g. "resnet", "plain", "preact"
    input_size: int  # native square input resolution, pixels
    num_classes: int  # default number of classes (1000 ImageNet, 10 CIFAR)
    reference: str  # where the architecture was published
    published_params: str | None = None  # parameter count as the paper prints it, e.g. "0.27M"
    modality: str = "image"  # image | audio (spectrograms) | text (token ids)
    input_shape: tuple[int, ...] = ()  # one input without the batch; () = (3, size, size)
    # classification (logits of num_classes) | super-resolution (an image `scale` times as
    # large as its input; num_classes 0, no head, no feature maps)
    task: str = "classification"

    def example_input(self, batch: int = 1, device: str | torch.device = "cpu") -> torch.Tensor:
        """A random input of the model's native shape: images/spectrograms, or token ids."""
        shape = (batch, *(self.input_shape or (3, self.input_size, self.input_size)))
        if self.modality == "text":
            return torch.randint(1, 64, shape, device=device)
        return torch.randn(shape, device=device)


MODALITIES = ("image", "audio", "text")
MODEL_TASKS = ("classification", "super-resolution")
_REGISTRY: dict[str, ModelInfo] = {}


def register_model(*, family: str, input_size: int, num_classes: int, reference: str,
                   published_params: str | None = None, modality: str = "image",
                   input_shape: tuple[int, ...] = (), task: str = "classification") -> Callable:
    """Decorator registering a builder under its function name; duplicates raise."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if task not in MODEL_TASKS:
        raise ValueError(f"task must be one of {MODEL_TASKS}, got {task!r}")

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, fn, family, input_size, num_classes, reference,
                                    published_params, modality, tuple(input_shape), task)
        return fn

    return decorate


def list_models(pattern: str = "*", family: str | None = None,
                modality: str | None = None, task: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern`` (e.g. ``"resnet*"``), sorted.

    ``modality`` keeps one kind of input: ``"image"``, ``"audio"`` or ``"text"``; ``task``
    one kind of output: ``"classification"`` or ``"super-resolution"``.
    """
    names = [n for n, info in _REGISTRY.items()
             if fnmatch.fnmatch(n, pattern) and (family is None or info.family == family)
             and (modality is None or info.modality == modality)
             and (task is None or info.task == task)]
    return sorted(names, key=_natural_key)


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; an unknown name raises with the closest names."""
    if name not in _REGISTRY:
        raise ResnetsError(f"unknown model {name!r}{did_you_mean(name, _REGISTRY)}; "
                           "`resnets models` lists them all")
    return _REGISTRY[name]


def check_modality(key: str, name: str, modality: str, what: str,
                   task: str = "classification") -> ModelInfo:
    """The entry of ``name`` if it is a registered ``task`` model of ``modality`` (what
    ``what``, e.g. "text data", needs); else a one-line error naming ``key`` and the models
    that fit."""
    info = model_info(name)
    if info.modality != modality or info.task != task:
        fits = list_models(modality=modality, task=task)
        listed = ", ".join(fits[:6]) + (", ..." if len(fits) > 6 else "")
        kind, needed = ((info.modality, modality) if info.modality != modality
                        else (info.task, task))
        raise ResnetsError(f"{key}={name!r} is {_article(kind)} model; {what} "
                           f"needs {_article(needed)} model ({listed})")
    return info


def _article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


HUB_PREFIXES = ("hf-hub:", "local-dir:")  # names of saved models (models/hub.py)


def create_model(name: str, num_classes: int | None = None, in_chans: int | None = None,
                 pretrained: bool = False, features_only: bool = False,
                 out_indices: Indices = None, **options: Any) -> nn.Module:
    """Build a registered model by name.

    ``num_classes`` defaults to the model's dataset (1000 for ImageNet models, 10 for CIFAR);
    ``options`` are the architecture's keyword arguments (``shortcut``, ``output_stride``,
    ``zero_init_residual``, ...). Unknown or invalid options raise one clear error.
    ``pretrained=True`` loads the published ImageNet weights (:func:`create_pretrained`).
    ``features_only=True`` gives the feature maps at ``out_indices`` (all by default, negative
    from the end; see ``feature_info``) instead of logits, as timm's
    (:class:`~resnets.models.features.FeatureListNet`).
    """
    if name.startswith(HUB_PREFIXES):  # a saved model: its config.json and safetensors
        from .hub import create_from_hub

        given = {k: v for k, v in (("num_classes", num_classes), ("in_chans", in_chans))
                 if v is not None}
        return create_from_hub(name, create_model, **given, **options)
    info = model_info(name)
    if info.task != "classification" and (num_classes is not None or features_only):
        raise ResnetsError(f"{name} is a {info.task} model: it has no classes and no feature "
                           "maps; drop num_classes and features_only")
    if out_indices is not None and not features_only:
        raise ResnetsError("out_indices chooses the maps of a feature extractor; pass "
                           "features_only=True with it")
    if pretrained:  # the published weights, then a new head if num_classes differs
        return create_pretrained(name, num_classes=num_classes, in_chans=in_chans,
                                 features_only=features_only, out_indices=out_indices,
                                 **options)
    if info.task == "classification":
        options["num_classes"] = info.num_classes if num_classes is None else num_classes
    if in_chans is not None:
        options["in_chans"] = in_chans
    model = info.builder(**options)
    if features_only:
        model = FeatureListNet(model, out_indices)
    # What it is (timm's attribute): resolve_data_config and save_pretrained read it;
    # create_pretrained adds the weights' "tag".
    model.pretrained_cfg = {"architecture": name, "options": dict(options)}
    return model


def create_pretrained(name: str, num_classes: int | None = None, in_chans: int | None = None,
                      weights: str = "v1", progress: bool = True, features_only: bool = False,
                      out_indices: Indices = None, **options: Any) -> nn.Module:
    """Model ``name`` with torchvision's published ImageNet weights (``weights``: v1 | v2).

    ``num_classes`` other than 1000 gives a new, randomly initialised classifier; ``in_chans``
    other than 3 adapts the stem convolution (:func:`~resnets.models.mapping.
    adapt_input_conv`). ``options`` are the architecture's (``output_stride``, ``drop_rate``,
    ...); options that change the parameters (``norm_layer``, ``attn_layer``) do not fit.
    """
    entry = published_weights(name, weights)  # a model without weights fails before any work
    model = create_model(name, num_classes=num_classes, in_chans=in_chans, **options)
    if features_only:  # bad out_indices fail before the download
        feature_take_indices(len(model.feature_info), out_indices)
    load_backbone(model, fetch_state_dict(entry, progress), source=entry.file_name)
    described = {**model.pretrained_cfg, "tag": entry.tag}
    if features_only:
        model = FeatureListNet(model, out_indices)
    model.pretrained_cfg = described
    return model


def build(cls: type[nn.Module], fixed: dict[str, Any], options: dict[str, Any],
          name: str, extra: tuple[str, ...] = ()) -> nn.Module:
    """Instantiate ``cls(**fixed, **options)``, rejecting options the user may not set.

    ``extra`` names the builder's own arguments (such as ``depth``), listed in the error.
    """
    accepted = [p for p in inspect.signature(cls.__init__).parameters
                if p not in ("self", "args", "kwargs") and p not in fixed]
    for key in options:
        if key in fixed:
            raise ResnetsError(f"{name} fixes {key!r}; build the class {cls.__name__} "
                               f"directly to change it")
        if key not in accepted:
            valid = sorted(accepted + list(extra))
            raise ResnetsError(f"unknown option {key!r} for {name}"
                               f"{did_you_mean(key, valid)}; valid options: {', '.join(valid)}")
    return cls(**fixed, **options)


def _natural_key(name: str) -> tuple:
    """Sort resnet18 before resnet101 (numbers compared as numbers)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))

