"""One recipe registry for every task: `resnets recipes` lists it grouped by task."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.train.config import EngineConfig, TrainConfig, apply_overrides, to_dict
from resnets.train.recipes import RECIPES, Recipe, get_recipe, recipe_config, recipes_by_task
from resnets.train.task import TASKS, Task

FAKE_TASK = "recipes_test_task"  # a name no real task has


@dataclass(frozen=True)
class FakeConfig(EngineConfig):
    TASK: ClassVar[str] = FAKE_TASK


class FakeTask(Task):
    config_class = FakeConfig
    command = "fake train"


FAKE = Recipe("fake-recipe", "a recipe of a task registered by this test", "this test",
              {"epochs": 3, "optim.lr": 0.5}, task=FAKE_TASK)


@pytest.fixture
def fake_task(monkeypatch):
    """The fake task and its recipe, registered for one test and removed after it."""
    monkeypatch.setitem(TASKS, FAKE_TASK, FakeTask)
    monkeypatch.setitem(RECIPES, FAKE.name, FAKE)


def listed_groups(out: str) -> dict[str, list[str]]:
    """`resnets recipes` output -> {task of each heading: the recipe lines under it}."""
    groups: dict[str, list[str]] = {}
    for block in out.strip().split("\n\n"):
        heading, *lines = block.splitlines()
        groups[heading.split(" ")[0]] = lines
    return groups


def test_every_task_s_recipes_are_listed_under_its_heading(fake_task, capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    groups = listed_groups(out)
    registered = {task: recipes for task, recipes in recipes_by_task().items() if recipes}
    assert list(groups) == list(registered) and list(groups)[0] == "classification"
    assert list(groups)[-1] == FAKE_TASK  # a task TASK_COMMANDS does not name comes last
    assert out.splitlines()[0] == "classification (`resnets train --recipe NAME`):"
    assert f"\n\n{FAKE_TASK} (`fake train --recipe NAME`):\n" in out
    width = max(len(name) for name in RECIPES)
    for task, recipes in registered.items():  # each line as `resnets recipes` printed it
        assert groups[task] == [f"{r.name:<{width}}  {r.summary}  [{r.source}]"
                                for r in recipes]
    # The applications' recipes are classification recipes, registered by their packages.
    names = [line.split()[0] for line in groups["classification"]]
    assert {"digits-resnet20", "speech-commands-res8", "ag-news-vdcnn9"} <= set(names)


def test_every_listed_recipe_resolves_for_its_registered_task(capsys):
    assert main(["recipes"]) == 0  # imports every task package and its task module
    for recipe in RECIPES.values():  # a task not registered: one line saying so
        assert recipe_config(recipe.name).TASK == recipe.task


def test_one_task_s_recipes(fake_task, capsys):
    assert main(["recipes", "--task", FAKE_TASK]) == 0
    out = capsys.readouterr().out
    assert listed_groups(out) == {FAKE_TASK: [
        f"{FAKE.name}  {FAKE.summary}  [{FAKE.source}]"]}
    assert main(["recipes", "--task", "classification"]) == 0
    assert FAKE.name not in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--task", "detectoin"], "no task 'detectoin' (did you mean 'detection'?); the tasks: "
                              "classification, detection"),
    (["--show", "fake-recipee"], "unknown recipe 'fake-recipee' (did you mean 'fake-recipe'?)"),
    (["--task", "classification", "--show", "digits-resnet20"], "not allowed with argument"),
])
def test_bad_requests_are_one_line(fake_task, capsys, argv, says):
    assert main(["recipes", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_show_resolves_a_recipe_of_any_task(fake_task, capsys):
    assert main(["recipes", "--show", FAKE.name]) == 0
    out = capsys.readouterr().out
    comments, _, body = out.partition("\n{")
    assert comments == f"# {FAKE.name}: {FAKE.summary}\n# source: {FAKE.source}"
    shown = json.loads("{" + body)
    assert shown["task"] == FAKE_TASK and (shown["epochs"], shown["optim"]["lr"]) == (3, 0.5)
    assert shown["recipe"] == FAKE.name and shown == json.loads(json.dumps(
        to_dict(recipe_config(FAKE.name))))
    assert main(["recipes", "--show", "speech-commands-res8"]) == 0
    speech = json.loads("{" + capsys.readouterr().out.partition("\n{")[2])
    assert (speech["task"], speech["data"]["dataset"]) == ("classification", "speech")


def test_a_recipe_whose_task_is_not_registered_is_one_line(monkeypatch):
    monkeypatch.setitem(RECIPES, FAKE.name, FAKE)  # the recipe without its task
    with pytest.raises(ResnetsError, match=f"for the {FAKE_TASK!r} task, which is not "
                                           "registered"):
        recipe_config(FAKE.name)


def test_recipe_config_works_in_a_fresh_process():
    """recipe_config registers the classification task it builds (`resnets recipes --show`
    raised KeyError when nothing had imported the engine yet)."""
    code = ("from resnets.train.recipes import recipe_config; "
            "print(recipe_config('digits-resnet20').model.name)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert (proc.returncode, proc.stdout) == (0, "resnet20\n"), proc.stderr


# What `resnets speech|text train` trained before their recipes were registered: the DEFAULTS
# of src/resnets/speech/cli.py and src/resnets/text/cli.py (at dd186f5) and their models.
OLD_DEFAULTS = {
    "speech": {"batch_size": "64", "epochs": "20", "optim.lr": "0.1", "optim.momentum": "0.9",
               "optim.weight_decay": "1e-5", "schedule.name": "cosine",
               "schedule.warmup_iters": "50", "eval_batch_size": "256", "model.name": "res8"},
    "text": {"batch_size": "128", "epochs": "15", "optim.lr": "0.01", "optim.momentum": "0.9",
             "optim.weight_decay": "0", "schedule.name": "cosine",
             "schedule.warmup_iters": "0", "eval_batch_size": "256", "model.name": "vdcnn9"},
}


@pytest.mark.parametrize("app, recipe", [("speech", "speech-commands-res8"),
                                         ("text", "ag-news-vdcnn9")])
def test_speech_and_text_train_run_their_recipe_with_the_settings_they_had(
        app, recipe, tmp_path, capsys):
    assert main([app, "train", "--root", str(tmp_path), "--print-config"]) == 0
    printed = capsys.readouterr().out
    old = to_dict(apply_overrides(TrainConfig(), {**OLD_DEFAULTS[app], "data.dataset": app,
                                                  "data.root": str(tmp_path)}))
    new = json.loads(printed)
    assert (new.pop("recipe"), new.pop("source")) == (recipe, get_recipe(recipe).source)
    assert new == {k: v for k, v in json.loads(json.dumps(old)).items()
                   if k not in ("recipe", "source")}
    # `resnets train --recipe` resolves the same run.
    assert main(["train", "--recipe", recipe, f"data.root={tmp_path}", "--print-config"]) == 0
    assert capsys.readouterr().out == printed
