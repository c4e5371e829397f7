"""docs/architecture.md says what the tree does: its layer table is the layering test's, and
its "How to add a task" example is a working task (trains, resumes bit-for-bit, round-trips
its configuration through its train command)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from launching import same_weights
from resnets.errors import ResnetsError
from resnets.limits import Parser
from resnets.train.checkpoint import CheckpointManager
from resnets.train.command import add_arguments, run
from resnets.train.config import TASK_COMMANDS, apply_overrides
from resnets.train.context import StopAfterStep
from resnets.train.engine import train
from resnets.train.task import TASKS
from test_layering import LAYERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def doc_section(title: str) -> str:
    return DOC.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_layer_table_is_the_layering_test_s():
    rows = [line.split("|")[1:3] for line in doc_section("Layers").splitlines()
            if line.startswith("| ") and not line.startswith("| Layer")]
    table = [(layer.strip(), {name if name == "resnets" else f"resnets.{name}"
                              for name in re.findall(r"`([\w.]+)`", units)})
             for layer, units in rows]
    assert table == [(layer, set(units)) for layer, units in LAYERS]


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The doc's code block imported as a fresh module (from a file: the options' help is
    read from the source); its task is unregistered afterwards."""
    [code] = re.findall(r"```python\n(.*?)```", doc_section("How to add a task"), flags=re.S)
    path = tmp_path / "brightness_example.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("brightness_example", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses resolve hints here
    before = dict(TASKS)
    try:
        spec.loader.exec_module(module)
        name = module.BrightnessConfig.TASK
        assert name not in before and name not in TASK_COMMANDS  # no real task's name
        assert TASKS[name] is module.BrightnessTask
        yield module
    finally:
        TASKS.clear()
        TASKS.update(before)


def small(example, tmp_path, name: str, **extra):
    """5 steps of batch 128 (3 an epoch) on the CPU, deterministic kernels."""
    return apply_overrides(example.BrightnessConfig(), {
        "out_dir": str(tmp_path), "run_name": name, "iterations": 5, "batch_size": 128,
        "eval_batch_size": 1000, "brightness.val_size": 1000, "device": "cpu",
        "deterministic": True, **extra})


def rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_second"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_example_task_trains_and_resumes_bit_for_bit(example, tmp_path, capsys):
    summary = train(small(example, tmp_path, "whole"))
    assert summary["steps"] == 5 and summary["epochs"] == 2  # 438 digits / 128: 3 an epoch
    whole = rows(tmp_path / "whole")
    assert [r["step"] for r in whole] == [3, 5]
    assert whole[-1]["train_loss"] < whole[0]["train_loss"]  # the epoch's mean, from sums
    assert summary["best_val_mse"] == min(r["val_mse"] for r in whole)
    assert (tmp_path / "whole" / "best.pt").is_file()
    state = CheckpointManager(tmp_path / "whole").load_latest()
    assert state["task"] == "example-brightness"
    assert state["config"]["brightness"] == {"model": "resnet20", "val_size": 1000}

    with pytest.raises(SystemExit):  # mid-epoch 2, as Ctrl-C stops
        train(small(example, tmp_path, "split"), hooks=[StopAfterStep(4)])
    assert "brightness train --resume" in capsys.readouterr().out
    train(small(example, tmp_path, "split"), resume_dir=tmp_path / "split")
    assert same_weights(tmp_path / "whole", tmp_path / "split")
    assert rows(tmp_path / "split") == whole


def test_print_config_fed_back_to_config_trains_the_same_run(example, tmp_path, capsys):
    parser = Parser(prog=example.COMMAND.prog)
    add_arguments(parser, example.COMMAND)

    def command(*argv: str) -> int:
        return run(parser.parse_with_settings(list(argv)), example.COMMAND, lambda s: None)

    settings = ["--out", str(tmp_path / "runs"), "iterations=1", "batch_size=128",
                "brightness.val_size=1000", "device=cpu"]
    with pytest.raises(ResnetsError, match="'resnet18'"):  # the task's check, before a run
        command(*settings, "--model", "resnet19")
    with pytest.raises(ResnetsError, match=r"brightness\.val_size must be an integer in"):
        command(*settings, "brightness.val_size=0")
    assert not (tmp_path / "runs").exists()
    assert command(*settings, "--print-config") == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["task"] == "example-brightness"
    (tmp_path / "run.json").write_text(printed)
    assert command("--config", str(tmp_path / "run.json")) == 0
    [made] = (tmp_path / "runs").iterdir()
    assert (made / "config.json").read_text() == printed
    assert made.name.startswith("example-brightness-")  # Task.run_name: the task's name
