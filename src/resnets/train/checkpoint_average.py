"""``resnets average``: one checkpoint whose weights are the uniform average of several.

Averaging the weights of runs fine-tuned from one start ("model soups", Wortsman et al. 2022)
or of one run's checkpoints (last.pt, last.prev.pt, best.pt) often evaluates better than any
of them. Every floating-point tensor of the state (weights and BatchNorm statistics) is the
mean of the inputs', computed in float64; integer buffers (``num_batches_tracked``) are the
first input's. An average of weights does not come with BatchNorm statistics that fit it:
``bn_update`` re-estimates them over one epoch of the first run's training data, as SWA does.
The result is a checkpoint that ``resnets evaluate`` and ``resnets predict`` accept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from ..errors import CheckpointError, ResnetsError
from ..files import check_writable
from .averaging import TRAINING_STATE, estimate_batch_norm
from .checkpoint import save_checkpoint
from .classification import ClassificationTask
from .config import apply_overrides
from .inference import load_trained
from .pipeline import build_pipeline
from .setup import resolve_device

AVERAGED_NAME = "averaged.pt"  # the file written when --out names a directory


def output_path(out: str | os.PathLike) -> Path:
    """``out``, or ``averaged.pt`` in it when it is a directory; its folder checked
    writable."""
    path = Path(out)
    if path.is_dir():
        path = path / AVERAGED_NAME
    check_writable(path.parent)
    return path


def _check_same_model(first: dict, state: dict, first_name: str, name: str) -> None:
    """One line when ``state`` is not a checkpoint of ``first``'s model and classes."""
    if state["model_name"] != first["model_name"]:
        raise CheckpointError(f"{name} holds {state['model_name']} weights and {first_name} "
                              f"{first['model_name']}; average checkpoints of one model")
    if list(state["classes"]) != list(first["classes"]):
        raise CheckpointError(f"{name} and {first_name} were trained on other classes; "
                              "average checkpoints of one model and data")
    ours, theirs = first["model"], state["model"]
    if ours.keys() != theirs.keys():
        extra = sorted(ours.keys() ^ theirs.keys())[0]
        raise CheckpointError(f"{name} and {first_name} differ in their tensors ({extra!r} "
                              "is in one only); average checkpoints of one model")
    for key, value in ours.items():
        if theirs[key].shape != value.shape:
            raise CheckpointError(f"{key!r} has shape {tuple(theirs[key].shape)} in {name} and "
                                  f"{tuple(value.shape)} in {first_name}; average checkpoints "
                                  "of one model")


def average_checkpoints(sources: Sequence[str], out: str | os.PathLike,
                        bn_update: bool = False, root: str | None = None) -> dict:
    """Write the uniform average of ``sources`` (run directories: their last checkpoint, or
    checkpoint files) to ``out``; returns what was done (path, count, BN batches)."""
    if len(sources) < 2:
        raise ResnetsError("averaging needs two or more checkpoints or run directories")
    resolved = [str(Path(s).resolve()) for s in sources]
    twice = next((s for s, r in zip(sources, resolved) if resolved.count(r) > 1), None)
    if twice is not None:
        raise ResnetsError(f"{twice} is named twice; name each checkpoint once")
    path = output_path(out)  # before anything is read
    # A run directory's input is its last checkpoint, kept with its previous one.
    inputs = set(resolved) | {str(Path(r) / name) for r in resolved if Path(r).is_dir()
                              for name in ("last.pt", "last.prev.pt")}
    if str(path.resolve()) in inputs:
        raise ResnetsError(f"--out {out} would overwrite an input; write the average elsewhere")
    cpu = torch.device("cpu")
    model, first, cfg = load_trained(sources[0], cpu)
    first = {**first, "model": model.state_dict()}
    sums = {k: v.double() for k, v in first["model"].items() if v.is_floating_point()}
    for source in sources[1:]:
        other, state, _ = load_trained(source, cpu)  # each checked as evaluate checks it
        state = {**state, "model": other.state_dict()}
        _check_same_model(first, state, sources[0], source)
        for key in sums:
            sums[key] += state["model"][key].double()
        del other, state
    averaged = {k: (sums[k] / len(sources)).to(v.dtype) if k in sums else v
                for k, v in first["model"].items()}
    model.load_state_dict(averaged)
    batches = 0
    if bn_update:
        batches = _re_estimate(model, cfg, root)
    result = {k: v for k, v in first.items() if k not in TRAINING_STATE}
    result.update(model=model.state_dict(), averaged={
        "method": "uniform", "models": len(sources), "sources": list(sources),
        "bn_batches": batches})
    save_checkpoint(path, result, keep_previous=False)
    return {"path": str(path), "models": len(sources), "model_name": first["model_name"],
            "bn_batches": batches}


def _re_estimate(model: torch.nn.Module, cfg, root: str | None) -> int:
    """BatchNorm statistics of ``model`` over one epoch of ``cfg``'s training batches; the
    number of batches, 0 when the model has no BatchNorm."""
    device = resolve_device("auto")
    if root:
        cfg = apply_overrides(cfg, {"data.root": root})
    train = build_pipeline(cfg, device).train
    task = ClassificationTask()
    model.to(device)
    done = estimate_batch_norm(model, train,
                               lambda batch: task.model_input(cfg, batch, device),
                               device, cfg.precision)
    model.to("cpu")
    return len(train) if done else 0
