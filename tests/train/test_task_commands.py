"""Each task's train command comes from one table (config.TASK_COMMANDS) and is a command."""

import re
from dataclasses import dataclass
from typing import ClassVar

import pytest

import resnets.train.classification  # noqa: F401 (registers the classification task)
from resnets.applications import register_applications
from resnets.cli import main
from resnets.train.config import TASK_COMMANDS, EngineConfig
from resnets.train.task import TASKS, Task, register_task


def test_every_task_is_trained_by_the_command_its_table_names(capsys):
    register_applications(tasks=True)
    assert set(TASKS) == set(TASK_COMMANDS)
    for name, task in TASKS.items():
        assert task.command == TASK_COMMANDS[name]
        program, *words = task.command.split()
        with pytest.raises(SystemExit) as done:
            main([*words, "--help"])
        assert program == "resnets" and done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: {task.command} "), name


@dataclass(frozen=True)
class GanLike(EngineConfig):
    TASK: ClassVar[str] = "gan"


@dataclass(frozen=True)
class Unlisted(EngineConfig):
    TASK: ClassVar[str] = "unlisted-test-task"


@pytest.mark.parametrize("config, command, message", [
    (GanLike, "resnets gan fit", "is trained by `resnets gan train` (TASK_COMMANDS)"),
    (Unlisted, "", "names no command: add it to TASK_COMMANDS"),
])
def test_a_task_cannot_name_a_command_of_its_own_beside_the_table(monkeypatch, config,
                                                                   command, message):
    monkeypatch.setattr("resnets.train.task.TASKS", dict(TASKS))  # left as it was
    task = type("Other", (Task,), {"config_class": config, "command": command})
    with pytest.raises(TypeError, match=re.escape(message)):
        register_task(task)
