"""Fine-tuning: start a model from pretrained weights, freeze its first stages.

``model.pretrained`` of a training config names where the weights come from:

* ``imagenet`` (or ``imagenet:v2``): torchvision's published weights of the same model;
* a run directory of ours (its newest checkpoint) or one of its ``.pt`` checkpoints;
* a ``.pt``, ``.pth`` or ``.safetensors`` state dict, e.g. saved from torchvision or timm.

The classifier is new unless the source's fits the data's classes; see
:func:`resnets.models.mapping.load_backbone`.

``model.freeze_stages = k`` freezes the stem and the first ``k`` stages: their parameters
stop receiving gradients (so the optimiser leaves them out), and their BatchNorm layers
normalise with the pretrained running statistics and stop updating them, in training as
well as in evaluation. Without that, a frozen stage would still drift, as its BN statistics
follow the new data. ``k = -1`` (or the number of stages) freezes the whole backbone,
leaving only the classifier to train: a linear probe trained with augmentation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import CheckpointError, ResnetsError
from ..weights import read_state_dict
from ..models.mapping import head_prefix, load_backbone
from ..models.pretrained import fetch_state_dict, parse_weights_spec, published_weights

def check_pretrained(spec: str, model_name: str) -> None:
    """Refuse a ``model.pretrained`` value that cannot work, without reading any weights."""
    if not spec:
        return
    tag = parse_weights_spec(spec, "model.pretrained")
    if tag is not None:
        published_weights(model_name, tag)
    elif not Path(spec).expanduser().exists():
        raise CheckpointError(f"model.pretrained={spec!r} is neither 'imagenet' nor an "
                              "existing run directory or .pt/.pth/.safetensors file")


def read_pretrained(spec: str, model_name: str,
                    progress: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict, a name for it in messages) of the weights that ``spec`` names."""
    tag = parse_weights_spec(spec, "model.pretrained")
    if tag is not None:
        entry = published_weights(model_name, tag)
        return fetch_state_dict(entry, progress), entry.file_name
    check_pretrained(spec, model_name)
    path = Path(spec).expanduser()
    if path.is_dir():
        from .checkpoint import CheckpointManager

        return _run_weights(CheckpointManager(path).load_latest(), spec, model_name,
                            "a folder without a checkpoint (last.pt)")
    from .checkpoint import checksum_path, load_checkpoint

    if path.suffix == ".pt" and checksum_path(path).exists():  # a checkpoint of one of our runs
        return _run_weights(load_checkpoint(path), spec, model_name, "not a run's checkpoint")
    return read_state_dict(path), f"weights in {spec!r}"


def _run_weights(state: dict | None, spec: str, model_name: str,
                 problem: str) -> tuple[dict[str, torch.Tensor], str]:
    """The model weights of a run's checkpoint ``state``: only its backbone's when the task
    says where they are (``backbone_prefix``, e.g. a self-supervised run's ``backbone.``)."""
    if state is None or not isinstance(state.get("model"), dict) or not all(
            isinstance(v, torch.Tensor) for v in state["model"].values()):
        raise CheckpointError(f"model.pretrained={spec!r} is {problem}; give a run "
                              "directory or a weights file")
    trained = state.get("model_name")
    if trained and trained != model_name:
        raise CheckpointError(f"the run {spec!r} trained {trained}, not {model_name}; set "
                              f"model.name={trained}")
    weights, prefix = state["model"], state.get("backbone_prefix")
    if isinstance(prefix, str) and prefix:
        weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    return weights, f"the checkpoint in {spec!r}"


def load_pretrained(model: nn.Module, spec: str, model_name: str,
                    progress: bool = True) -> dict[str, bool]:
    """Load the backbone that ``spec`` names into ``model``; returns what was adapted."""
    state, source = read_pretrained(spec, model_name, progress)
    return load_backbone(model, state, source)


def backbone_stages(model: nn.Module) -> list[list[nn.Module]]:
    """The stem, then each stage, as lists of modules (a DenseNet's transitions lead into the
    next dense block, so freezing k stages freezes everything up to the k-th feature map)."""
    if hasattr(model, "stage_names"):  # ResNet and its variants
        stem = [model.conv1, model.bn1]
        return [stem, *([getattr(model, name)] for name in model.stage_names)]
    if hasattr(model, "block_names"):  # DenseNet
        features = model.features
        groups = [[getattr(features, name) for name in model.stem_names]]
        for i, name in enumerate(model.block_names):
            lead_in = [getattr(features, f"transition{i}")] if i else []
            groups.append(lead_in + [getattr(features, name)])
        return groups
    raise ResnetsError(f"{type(model).__name__} has no stages to freeze; use "
                       "model.freeze_stages=-1 (whole backbone) or 0")


def _keep_bn_in_eval(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: a frozen BatchNorm always uses and keeps its running statistics."""
    module.training = False


def _freeze(modules: list[nn.Module]) -> None:
    for module in modules:
        module.requires_grad_(False)
        for sub in module.modules():
            if isinstance(sub, _BatchNorm) and not getattr(sub, "frozen_stats", False):
                # A hook, not a one-off .eval(): the engine calls net.train() every epoch.
                sub.register_forward_pre_hook(_keep_bn_in_eval)
                sub.frozen_stats = True
                sub.eval()


def freeze_stages(model: nn.Module, stages: int) -> int:
    """Freeze the stem and the first ``stages`` stages (-1: all but the classifier).

    Returns the number of parameters frozen. Frozen BatchNorm layers stay in evaluation mode
    whatever ``model.train()`` says.
    """
    if stages == 0:
        return 0
    if stages < -1:
        raise ResnetsError(f"freeze_stages must be >= 0, or -1 for the whole backbone, "
                           f"got {stages}")
    before = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    whole = stages == -1
    if not whole:
        groups = backbone_stages(model)
        if stages > len(groups) - 1:
            raise ResnetsError(f"freeze_stages={stages}, but {type(model).__name__} has "
                               f"{len(groups) - 1} stages; use at most {len(groups) - 1}, or "
                               "-1 for the whole backbone")
        whole = stages == len(groups) - 1  # the final norm of pre-activation nets too
        if not whole:
            _freeze([m for group in groups[:stages + 1] for m in group])
    if whole:
        head = head_prefix(model)[:-1]
        if not any(name == head for name, _ in model.named_children()):
            raise ResnetsError(f"{type(model).__name__} has no classifier {head!r} to keep "
                               "training; freeze fewer stages")
        _freeze([child for name, child in model.named_children() if name != head])
    return sum(p.numel() for p in model.parameters() if not p.requires_grad) - before


def head_parameters(model: nn.Module) -> set[int]:
    """The ids of the classifier's parameters (the rest of the model is the backbone)."""
    classifier = getattr(model, head_prefix(model)[:-1], None)
    if not isinstance(classifier, nn.Module):
        raise ResnetsError(f"{type(model).__name__} has no classifier "
                           f"{head_prefix(model)[:-1]!r} to give its own learning rate")
    return {id(p) for p in classifier.parameters()}
