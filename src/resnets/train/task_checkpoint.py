"""The trained model of a task's run (detection, segmentation, super-resolution): its
checkpoint read and checked, and the model rebuilt from it, for the ``evaluate`` and
``predict`` commands.

A task's checkpoint holds, beside the engine's state, the metadata its task saved
(:meth:`resnets.train.task.Task.metadata`): the model's settings under the task's key
(``detector``, ``segmenter``, ``network``), ``classes`` (none for super-resolution) and, for
detection, the COCO ``category_ids``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import CheckpointError
from ..readback import check_keys, field_kinds, fill_defaults
from .checkpoint import CheckpointManager, load_checkpoint
from .config import TASK_COMMANDS
from .metadata import check_classes, check_fits


def read_run_checkpoint(path: str | os.PathLike, task: str, model_key: str,
                        model_config: type) -> dict[str, Any]:
    """The newest verified checkpoint of a run directory, or a checkpoint file, of ``task``
    whose ``model_key`` entry holds the settings of a ``model_config`` (DetectorConfig, ...)."""
    path = Path(path)
    state = (CheckpointManager(path).load_latest() if path.is_dir()
             else load_checkpoint(path))
    if state is None:
        raise CheckpointError(f"{str(path)!r} holds no checkpoint; train first")
    if state.get("task") != task:
        raise CheckpointError(f"{str(path)!r} is not a {task} checkpoint (task "
                              f"{state.get('task')!r}); pass a run of "
                              f"`{TASK_COMMANDS[task]}`")
    where = f"checkpoint {str(path)!r}: {model_key!r}"
    state[model_key] = fill_defaults(state.get(model_key), model_config, where)
    check_keys(state[model_key], field_kinds(model_config), where)
    return state


def read_task_checkpoint(path: str | os.PathLike, task: str, model_key: str,
                         model_config: type) -> dict[str, Any]:
    """:func:`read_run_checkpoint` of a task with classes (detection, segmentation): their
    names and, for detection, their COCO ``category_ids`` checked too."""
    state = read_run_checkpoint(path, task, model_key, model_config)
    where = f"checkpoint {str(path)!r}"
    classes = check_classes(state.get("classes"), where)
    ids = state.get("category_ids", list(range(len(classes))))
    if not isinstance(ids, list) or len(ids) != len(classes) or len(set(ids)) != len(ids) \
            or not all(type(i) is int for i in ids):
        raise CheckpointError(f"{where}: category_ids must be {len(classes)} distinct integers, "
                              "one per class; the file is damaged or was not written by "
                              "resnets")
    return state


def build_from_checkpoint(build: Callable[[Any, int], nn.Module], cfg: Any,
                          state: dict[str, Any], path: str | os.PathLike) -> nn.Module:
    """``build(cfg, classes)`` with the checkpoint's weights (:func:`load_checked`)."""
    classes = len(state["classes"])
    return load_checked(lambda: build(cfg, classes), state, path, classes)


def load_checked(build: Callable[[], nn.Module], state: dict[str, Any],
                 path: str | os.PathLike, classes: int = 0) -> nn.Module:
    """``build()`` with the checkpoint's weights; their names and shapes are compared first
    with a model built on the meta device, so a damaged file allocates nothing."""
    with torch.device("meta"):
        skeleton = build()
    check_fits(skeleton, state["model"], f"checkpoint {str(path)!r}", classes)
    model = build()
    model.load_state_dict(state.pop("model"))
    return model


def read_averaged_run(path: str | os.PathLike, task: str, config_class: type
                      ) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """(checkpoint, its config, the weights to use) of a run directory or checkpoint file of
    ``task``: the EMA weights when the run kept them (generative tasks sample from those),
    else the model's."""
    from .config import from_dict

    path = Path(path)
    state = (CheckpointManager(path).load_latest() if path.is_dir()
             else load_checkpoint(path) if path.is_file() else None)
    if state is None or state.get("task") != task:
        raise CheckpointError(f"{str(path)!r} is no checkpoint of `{TASK_COMMANDS[task]}` (a "
                              "run directory with last.pt, or the .pt file)")
    cfg = from_dict(state["config"], f"the config of {str(path)!r}", config_class)
    weights = state["ema"]["module"] if state.get("ema") else state["model"]
    return state, cfg, weights
