"""Every command and subcommand answers --help, and a missing argument in one line."""

import pytest

from command_tree import APP_PARSERS, commands, required, run
from resnets import cli

COMMANDS = commands()
# Commands whose required inputs are checked by the command (--train/--val, --root or
# --resume; the experiment's NAME or --resume), not by argparse.
CHECKED_BY_THE_COMMAND = {("detect", "train"), ("segment", "train"), ("speech", "train"),
                          ("text", "train"), ("translate", "train"), ("sr", "train"),
                          ("experiment",), ("evaluate",)}


def test_the_walk_reaches_every_application_and_the_experiments():
    assert set(APP_PARSERS) == set(cli.APP_COMMANDS)
    paths = {path for path, _ in COMMANDS}
    assert {("detect", "train"), ("experiment", "overfitting"), ("speech", "demo"),
            ("train",), ("attack",)} <= paths


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_help_of_every_command(path, capsys):
    assert run([*path, "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: resnets") and err == ""


MISSING = [p for p, parser in COMMANDS if required(parser) or p in CHECKED_BY_THE_COMMAND]


@pytest.mark.parametrize("path", MISSING, ids=" ".join)
def test_a_missing_required_argument_is_one_line(path, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(list(path)) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"resnets{' ' + path[0] if path[0] in cli.APP_COMMANDS else ''}: "
                          "error: ") and "required" in err or "name the experiment" in err
    assert not any(tmp_path.iterdir())


def test_every_required_argument_is_named_when_missing(capsys):
    assert run(["attack", "--eps", "0.1"]) == 2
    assert "one of the arguments --checkpoint --model is required" in capsys.readouterr().err
    assert run(["evaluate"]) == 2
    assert "RUN_DIR|CHECKPOINT is required" in capsys.readouterr().err
    assert run(["detect", "predict", "x.png"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
