"""`resnets detect train --resume`: an interrupted run, resumed, ends as an uninterrupted one."""

import csv
import json
import shutil

import pytest
import torch

from resnets.cli import main
from resnets.detection import train as tasks
from resnets.train.checkpoint import load_checkpoint

MODEL = ["--backbone", "resnet18", "--norm", "batch", "--min-size", "64", "--max-size", "64",
         "--anchor-size", "8", "--fpn-channels", "16", "--box-head-size", "32",
         "--rois-per-image", "16", "--device", "cpu"]
# 4 images, 2 a step: steps 1-2 are epoch 1, 3-4 epoch 2. Rows at 2 and 4, with evaluations
# and checkpoints; the interrupted run stops after step 1, inside the first row and epoch.
LOOP = ["--steps", "4", "--batch-size", "2", "--log-every", "2", "--eval-every", "2",
        "--optimizer", "adamw", "--lr", "0.001", "--warmup-iters", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    assert main(["detect", "synth", str(root), "--num-train", "4", "--num-val", "2",
                 "--image-size", "64", "--max-size", "24"]) == 0
    return ["--train", str(root / "train/annotations.json"),
            "--val", str(root / "val/annotations.json")]


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """A run of 4 steps, not interrupted."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["detect", "train", *data, *MODEL, *LOOP, "--out-dir", str(runs),
                 "--run-name", "whole"]) == 0
    return runs / "whole"


def metrics_table(run):
    """metrics.csv without its column of seconds."""
    with open(run / "metrics.csv", newline="") as fh:
        table = list(csv.reader(fh))
    column = table[0].index("seconds")
    return [row[:column] + row[column + 1:] for row in table]


class InterruptedLoss:
    """The detection loss, raising KeyboardInterrupt (as a second Ctrl-C does) in step ``at``."""

    def __init__(self, at: int) -> None:
        self.at, self.step, self.loss = at, 0, tasks._detection_loss

    def __call__(self, *args):
        self.step += 1
        if self.step == self.at:
            raise KeyboardInterrupt
        return self.loss(*args)


def test_an_interrupted_run_resumes_to_the_same_weights(data, finished, tmp_path, capsys,
                                                        monkeypatch):
    loss = tasks._detection_loss
    monkeypatch.setattr(tasks, "_detection_loss", InterruptedLoss(at=2))
    with pytest.raises(SystemExit) as stop:
        main(["detect", "train", *data, *MODEL, *LOOP, "--out-dir", str(tmp_path),
              "--run-name", "cut"])
    run = tmp_path / "cut"
    assert stop.value.code == 130
    assert f"resnets detect train --resume {run}" in capsys.readouterr().out
    assert load_checkpoint(run / "last.pt")["step"] == 1
    monkeypatch.setattr(tasks, "_detection_loss", loss)
    assert main(["detect", "train", "--resume", str(run)]) == 0
    whole, resumed = load_checkpoint(finished / "last.pt"), load_checkpoint(run / "last.pt")
    assert resumed["step"] == 4
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    assert metrics_table(run) == metrics_table(finished)
    assert [row[0] for row in metrics_table(run)] == ["step", "2", "4"]


@pytest.mark.parametrize("extra, message", [
    (["--lr", "0.1"], "drop --lr"),
    (["--train", "x.json", "--steps", "9"], "drop --train"),
    (["--skip-bad", "--fpn-channels", "16"], "drop --skip-bad --fpn-channels"),
    (["--config", "c.yaml", "--steps", "9"], "drop --config"),
    ([], "already took 4 of its 4 steps; pass --steps N with N > 4"),
])
def test_resume_refuses_other_settings(finished, capsys, extra, message):
    assert main(["detect", "train", "--resume", str(finished), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_resume_needs_a_run_with_a_checkpoint(finished, tmp_path, capsys):
    assert main(["detect", "train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["detect", "train", "--resume", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
    shutil.copy(finished / "config.json", tmp_path)
    assert main(["detect", "train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "has no checkpoint yet" in err
    assert main(["segment", "train", "--resume", str(finished)]) == 2
    assert "a detection run, not a segmentation run" in capsys.readouterr().err
    assert main(["detect", "train", "--val", "v.json"]) == 2
    assert "--train required" in capsys.readouterr().err


def test_a_reused_run_name_is_refused_and_the_run_kept(data, finished, capsys):
    before = (finished / "last.pt").read_bytes()
    argv = ["detect", "train", *data, *MODEL, *LOOP, "--out-dir", str(finished.parent)]
    assert main([*argv, "--run-name", "whole"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"already exists; resume it with --resume {finished}" in err
    assert "another --run-name" in err and (finished / "last.pt").read_bytes() == before
    assert main([*argv, "--run-name", "."]) == 2  # not the output folder itself
    assert "--run-name '.' is not a folder name" in capsys.readouterr().err


def test_a_run_in_use_cannot_be_resumed(finished, capsys):
    from resnets.train.rundir import lock_run_dir

    lock = lock_run_dir(finished)  # as the process training it holds it
    try:
        assert main(["detect", "train", "--resume", str(finished), "--steps", "6"]) == 2
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is in use by another run" in err
    assert load_checkpoint(finished / "last.pt")["step"] == 4


def _edited_config(config):
    config["loop"]["stepz"] = config["loop"].pop("steps")


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(loop=[4]), "'loop' is an array ([4]), expected dict"),
    (_edited_config, "'loop' has unknown keys 'stepz'"),
    (lambda c: c["data"].pop("val"), "'data' lacks 'val'"),
    (lambda c: c["detector"].update(min_size="64"), "'min_size' is a string ('64'), "
                                                    "expected int"),
    (lambda c: c.update(classes=["a", "a"]), "classes name 'a' twice"),
])
def test_resume_refuses_a_damaged_config_in_one_line(finished, tmp_path, capsys, edit,
                                                     message):
    import json

    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    config = json.loads((run / "config.json").read_text())
    edit(config)
    (run / "config.json").write_text(json.dumps(config))
    assert main(["detect", "train", "--resume", str(run), "--steps", "6"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_resume_refuses_a_checkpoint_with_a_negative_step(finished, tmp_path, capsys):
    from resnets.train.checkpoint import save_checkpoint

    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    state = load_checkpoint(run / "last.pt")
    save_checkpoint(run / "last.pt", {**state, "step": -3}, keep_previous=False)
    assert main(["detect", "train", "--resume", str(run), "--steps", "6"]) == 2
    assert "step is -3, outside >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("fields, message", [
    ({"classes": ["circle", "circle", "square"]}, "classes name 'circle' twice"),
    ({"category_ids": [1, 1, 2]}, "category_ids must be 3 distinct integers"),
    ({"classes": ["a", "b", "c", "d", "e"], "category_ids": [1, 2, 3, 4, 5]},
     "but its metadata makes it"),
    ({"detector": {"arch": "fasterrcnn"}}, "'detector' lacks 'backbone'"),
])
def test_evaluate_refuses_wrong_checkpoint_metadata_before_building(finished, tmp_path,
                                                                    capsys, fields, message):
    from resnets.train.checkpoint import save_checkpoint

    state = load_checkpoint(finished / "last.pt")
    path = save_checkpoint(tmp_path / "bad.pt", {**state, **fields})
    assert main(["detect", "evaluate", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and len(err.strip().splitlines()) == 1


def test_printed_config_fed_back_reproduces_the_run(data, finished, tmp_path, capsys):
    saved = json.loads((finished / "config.json").read_text())
    settings = {k: v for k, v in saved.items() if k not in ("classes", "category_ids")}
    # The run's options, printed: its config.json less what the run read from its data.
    assert main(["detect", "train", *data, *MODEL, *LOOP, "--out-dir", str(finished.parent),
                 "--run-name", "whole", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == settings
    # Its config.json fed back, printed as YAML with a new out-dir, trains the same run.
    runs = tmp_path / "runs"
    assert main(["detect", "train", "--config", str(finished / "config.json"), "--out-dir",
                 str(runs), "--print-config", "--format", "yaml"]) == 0
    (tmp_path / "run.yaml").write_text(capsys.readouterr().out)
    assert not runs.exists()  # printing reads no data and makes nothing
    assert main(["detect", "train", "--config", str(tmp_path / "run.yaml")]) == 0
    again = json.loads((runs / "whole" / "config.json").read_text())
    assert again == {**saved, "loop": {**saved["loop"], "out_dir": str(runs)}}
    assert metrics_table(runs / "whole") == metrics_table(finished)


@pytest.mark.parametrize("text, message", [
    ("loop: {lrr: 0.1}", "unknown setting 'loop.lrr' (did you mean 'loop.lr'"),
    ("loop: {lr: 100}", "loop.lr must be"),
    ("detector: {min_size: '64'}", "'min_size' is a string ('64'), expected int"),
    ("loop: 3", "'loop' is a number, not a mapping of loop.* settings"),
    ("task: segmentation", "the config of a segmentation run, not detection"),
    ("loop: {steps: 2}", "--train and --val required"),
])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, text, message):
    (tmp_path / "c.yaml").write_text(text + "\n")
    argv = ["detect", "train", "--config", str(tmp_path / "c.yaml"), "--out-dir",
            str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def test_options_win_over_the_config_file(data, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("loop: {steps: 7, lr: 0.5}\n"
                                     "detector: {backbone: resnet18}\n")
    assert main(["detect", "train", *data, "--config", str(tmp_path / "c.yaml"), "--steps", "3",
                 "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["loop"]["steps"], printed["loop"]["lr"]) == (3, 0.5)
    assert printed["detector"]["backbone"] == "resnet18"
    assert printed["loop"]["batch_size"] == 4  # left out: the option's default
