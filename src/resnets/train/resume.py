"""What a resumed run may change, for every training command: one rule, one message.

A run continues with the settings it started with (its ``config.json``). A resume may change
only what leaves the data order and the optimisation of the steps already taken alone: how
long to train, where, and with how many loader processes. Whatever it changes is written back
to ``config.json``, so the run resumed again (the command printed on Ctrl-C) keeps it.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ResnetsError
from ..files import write_text_atomic
from .config import field_types, setting_value, to_dict

# `--resume RUN key=value`: the engine's keys that may change, for every task. Training longer
# stretches the schedule from the resumed step on; the others do not change what is computed.
ENGINE_RESUME_SETTINGS = ("epochs", "iterations", "device", "eval_batch_size",
                          "checkpoint_every", "dist_timeout")
# Those of `resnets train` (`data.root`: the same data set, moved to another folder or machine).
TRAIN_RESUME_SETTINGS = (*ENGINE_RESUME_SETTINGS, "data.root", "data.val_root", "data.workers",
                         "data.persistent_workers", "data.prefetch_factor")


def resume_command(command: str, run_dir: str | os.PathLike) -> str:
    """The command line that continues the run in ``run_dir`` (``command`` trains it)."""
    return f"{command} --resume {shlex.quote(str(run_dir))}"


def refuse_other_changes(changed: Iterable[str], allowed: Iterable[str]) -> None:
    """One line naming the changed settings a resume does not accept, and those it does."""
    changed = list(changed)
    if changed:
        raise ResnetsError(f"--resume continues a run with the settings in its config.json; "
                           f"drop {' '.join(changed)} (only {', '.join(allowed)} may change)")


def resume_changes(saved: Any, cfg: Any,
                   allowed: tuple[str, ...] = TRAIN_RESUME_SETTINGS) -> dict[str, Any]:
    """The settings of ``cfg`` that differ from the run's ``saved`` ones, as key -> value.

    Raises a one-line ResnetsError when any of them is not in ``allowed``.
    """
    changed = {key: setting_value(cfg, key) for key in field_types(type(cfg))
               if setting_value(cfg, key) != setting_value(saved, key)}
    refuse_other_changes([f"{k}={v}" for k, v in changed.items() if k not in allowed],
                         allowed)
    return changed


def check_steps_left(run_dir: str | os.PathLike, done: int, total: int) -> None:
    """Refuse to resume a run that would end before the step its checkpoint holds, or that
    already finished (it has a summary) with nothing more to train."""
    finished = done == total and (Path(run_dir) / "summary.json").is_file()
    if done > total or finished:
        raise ResnetsError(f"--resume {run_dir}: the run already took {done} of its {total} "
                           "steps; pass epochs=N or iterations=N with more to train on")


def store_config(run_dir: str | os.PathLike, cfg: Any) -> None:
    """Write the run's configuration (as it now stands) to its config.json, atomically."""
    write_text_atomic(Path(run_dir) / "config.json", json.dumps(to_dict(cfg), indent=2) + "\n")
