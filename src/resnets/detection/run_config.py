"""``--config FILE`` and ``--print-config`` of ``resnets detect|segment train``.

The file has the layout of a run's ``config.json``: the sections a user sets, ``detector``
(``segmenter``), ``data`` and ``loop``, keyed as the options are named (``loop.lr`` is
``--lr``). Any subset will do: what it leaves out keeps the option's default, and an option
on the command line wins over it. The keys a run derives from its data (``classes``,
``category_ids``) and ``task`` may stand in it, so that a run's own ``config.json`` is a
valid file; they are not settings (``task`` must be the command's).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ResnetsError, did_you_mean
from ..readback import check_keys, field_kinds, json_type
from ..train.config_file import check_limits, read_settings_file
from .loop import LoopConfig, config_from_args
from .resume import DATA_KEYS, MODEL_KEYS, given_options, option_actions

DERIVED = ("classes", "category_ids")  # written from the data, not read as settings


@dataclass(frozen=True)
class TaskCommand:
    """What ``resnets detect train`` and ``resnets segment train`` differ in."""

    task: str  # "detection" | "segmentation"
    model_config: type  # DetectorConfig | SegmenterConfig
    add_options: Callable[[argparse.ArgumentParser], None]  # the train options
    run_data: Callable[..., dict[str, Any]]  # config.json's "data", from its keys' options

    def configs(self, args: argparse.Namespace) -> tuple[Any, LoopConfig]:
        """The model and loop settings of a new run, from its options."""
        return config_from_args(self.model_config, args), config_from_args(LoopConfig, args)

    def sections(self) -> dict[str, dict[str, Any]]:
        """Each section of the file and the JSON types of its keys."""
        return {MODEL_KEYS[self.task]: field_kinds(self.model_config),
                "data": DATA_KEYS[self.task], "loop": field_kinds(LoopConfig)}


def with_config_file(args: argparse.Namespace, argv: list[str],
                     command: TaskCommand) -> argparse.Namespace:
    """``args`` with the settings of ``--config FILE`` wherever ``argv`` gave no option."""
    if not args.config:
        return args
    written = given_options(command.add_options, argv)
    settings = read_task_config(args.config, command)
    return argparse.Namespace(**{**vars(args), **{k: v for k, v in settings.items()
                                                  if k not in written}})


def read_task_config(path: str, command: TaskCommand) -> dict[str, Any]:
    """The settings of the file ``path`` by option ``dest``, each checked against its type
    and the option's limit; a bad one is one line naming the file and the key."""
    where, sections = f"--config {str(path)!r}", command.sections()
    data = read_settings_file(path)
    if data.get("task", command.task) != command.task:
        raise ResnetsError(f"{where} is the config of a {data['task']} run, not "
                           f"{command.task}; pass it to that command")
    actions = option_actions(command.add_options)
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("task", *DERIVED):
            continue
        if key not in sections:
            refuse_unknown(where, key, list(sections))
        if not isinstance(value, dict):
            raise ResnetsError(f"{where}: {key!r} is {json_type(value)}, not a mapping "
                               f"of {key}.* settings")
        for name in value:
            if name not in sections[key]:
                refuse_unknown(where, f"{key}.{name}",
                               [f"{key}.{known}" for known in sections[key]])
        check_keys(value, sections[key], f"{where}: {key!r}", optional=sections[key])
        check_limits(value, {name: getattr(actions[name].type, "limit", None)
                             for name in value}, where, f"{key}.")
        settings.update(value)
    return settings


def refuse_unknown(where: str, key: str, known: list[str]) -> None:
    raise ResnetsError(f"{where}: unknown setting {key!r}{did_you_mean(key, known)}; "
                       "--print-config shows every key")


def printed_config(args: argparse.Namespace, command: TaskCommand) -> dict[str, Any]:
    """The settings of a new run as its ``config.json`` holds them, less :data:`DERIVED`."""
    model, loop = command.configs(args)
    data = {key: getattr(args, key) for key in DATA_KEYS[command.task]}
    return {"task": command.task, MODEL_KEYS[command.task]: asdict(model),
            "data": command.run_data(**data), "loop": asdict(loop)}
