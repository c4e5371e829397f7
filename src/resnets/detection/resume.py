"""``resnets detect|segment train --resume RUN_DIR``: continue a run from its last checkpoint.

The run's config.json holds the task's model configuration, its data (paths made absolute
when the run started) and its :class:`LoopConfig`; its ``last.pt`` (or ``last.prev.pt`` when
that one fails its checksum) holds the weights, the optimiser, the step, the random states and
the running loss sums. Only ``--steps`` (to extend the run), ``--device`` and ``--workers``
may be given with ``--resume``: none of them changes what the finished run computes, except
that more steps stretch the cosine schedule from the resumed step on.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ResnetsError
from ..readback import check_keys, field_kinds, read_json
from ..train.checkpoint import CheckpointManager
from ..train.config_file import options_given
from ..train.resume import refuse_other_changes
from ..train.metadata import check_classes, check_count
from .loop import LoopConfig, train_command

RESUME_CHANGES = ("steps", "device", "workers")  # options that may go with --resume


@dataclass
class Resume:
    """A run to continue: its directory, configuration and newest verified checkpoint."""

    run_dir: Path
    config: dict[str, Any]  # the run's config.json
    loop: LoopConfig  # the run's loop settings with the allowed changes
    state: dict[str, Any]  # the checkpoint


def load_resume(run_dir: str, task: str, model_config: type, **changes: Any) -> Resume:
    """The run in ``run_dir`` of ``task``, ready to continue; ``changes`` (the fields of
    :data:`RESUME_CHANGES`, None = as before) replace the run's own loop settings.
    ``model_config`` is the task's dataclass of model settings (DetectorConfig, ...)."""
    run, again = Path(run_dir), f"train again with `{train_command(task)}`"
    if not run.is_dir():
        raise ResnetsError(f"--resume {run_dir}: no such run directory; pass a directory "
                           f"written by `{train_command(task)}`")
    if not (run / "config.json").is_file():
        raise ResnetsError(f"--resume {run_dir}: no config.json, so not a run directory; "
                           f"pass a directory written by `{train_command(task)}`")
    config = read_json(run / "config.json", f"--resume {run_dir}: run config", again)
    if config.get("task") != task:
        raise ResnetsError(f"--resume {run_dir}: a {config.get('task')} run, not a {task} "
                           "run; resume it with its own command")
    check_run_config(config, task, model_config, f"run config {str(run / 'config.json')!r}")
    state = CheckpointManager(run).load_latest()
    if state is None:
        raise CheckpointError(f"--resume {run_dir}: the run has no checkpoint yet (one is "
                              f"written at each evaluation and on Ctrl-C); {again}")
    if "rng" not in state:
        raise CheckpointError(f"--resume {run_dir}: the run was written by a version that "
                              f"could not be resumed; {again}")
    check_position(state, f"the last checkpoint in {str(run)!r}")
    chosen = {k: v for k, v in changes.items() if k in RESUME_CHANGES and v is not None}
    loop = LoopConfig(**{**config["loop"], **chosen})
    if loop.steps <= state["step"]:
        raise ResnetsError(f"--resume {run_dir}: the run already took {state['step']} of its "
                           f"{loop.steps} steps; pass --steps N with N > {state['step']} to "
                           "train on")
    return Resume(run, config, loop, state)


MODEL_KEYS = {"detection": "detector", "segmentation": "segmenter"}  # config.json's key
# What detect/segment train write into a run's config.json (detection/train.py and
# segmentation/train.py build it): top-level keys and the keys of its "data".
RUN_KEYS = {
    "detection": {"task": str, "detector": dict, "classes": list, "category_ids": list,
                  "data": dict, "loop": dict},
    "segmentation": {"task": str, "segmenter": dict, "classes": list, "data": dict,
                     "loop": dict},
}
DATA_KEYS = {
    "detection": {"train": str, "train_images": str, "val": str, "val_images": str,
                  "skip_bad": bool},
    "segmentation": {"train": str, "val": str, "crop_size": int, "num_classes": int,
                     "skip_bad": bool},
}


def check_run_config(config: dict[str, Any], task: str, model_config: type,
                     where: str) -> None:
    """Every key of a run's config.json known, present and of its type, in one line."""
    check_keys(config, RUN_KEYS[task], where)
    model_key = MODEL_KEYS[task]
    check_keys(config[model_key], field_kinds(model_config),
               f"{where}: {model_key!r}")
    check_keys(config["data"], DATA_KEYS[task], f"{where}: 'data'")
    check_keys(config["loop"], field_kinds(LoopConfig), f"{where}: 'loop'")
    check_classes(config["classes"], where)


def check_position(state: dict[str, Any], where: str) -> None:
    """The step and running sums of a task checkpoint: what a resume continues from."""
    check_count(state.get("step"), "step", where)
    check_count(state.get("counted"), "counted", where)
    if not isinstance(state.get("sums"), dict) or not isinstance(state.get("seconds"),
                                                                  (int, float)):
        raise CheckpointError(f"{where}: sums or seconds are malformed; the file is "
                              "damaged or was not written by resnets")


def resume_changes(add_options: Callable[[argparse.ArgumentParser], None],
                   argv: list[str]) -> dict[str, Any]:
    """The options on a ``train --resume`` command line ``argv``, keyed by field name.

    ``add_options`` adds the train options to a parser. An option other than those of
    :data:`RESUME_CHANGES` (and --resume) is refused with one line naming it, even when it
    repeats the run's own value: the run's settings come from its config.json.
    """
    given = given_options(add_options, argv)
    given.pop("resume", None)
    flags = option_actions(add_options)
    refuse_other_changes([flags[k].option_strings[0] for k in given if k not in RESUME_CHANGES],
                         [f"--{k}" for k in RESUME_CHANGES])
    return given


def option_actions(add_options: Callable[[argparse.ArgumentParser], None]
                   ) -> dict[str, argparse.Action]:
    """The options ``add_options`` adds to a parser, keyed by their ``dest``."""
    parser = argparse.ArgumentParser(add_help=False)
    add_options(parser)
    return {a.dest: a for a in parser._actions if a.option_strings}


def given_options(add_options: Callable[[argparse.ArgumentParser], None],
                  argv: list[str]) -> dict[str, Any]:
    """The options ``add_options`` adds that are written in ``argv``, by ``dest``."""
    parser = argparse.ArgumentParser(add_help=False)
    add_options(parser)
    return options_given(parser, argv)
