"""`resnets segment train --resume`: after Ctrl-C or from a fallback checkpoint, a resumed run
ends with the weights and metrics of an uninterrupted one."""

import json
import os
import shutil
import signal

import pytest
import torch

from resnets.cli import main
from resnets.segmentation import train as tasks
from resnets.train.checkpoint import CheckpointWarning, load_checkpoint

# 4 images, 2 a step: 2 steps an epoch. Random flips and crops, dropout in the DeepLabV3 head;
# rows at steps 2, 4, 5 with evaluations and checkpoints.
SETTINGS = ["--backbone", "resnet18", "--output-stride", "16", "--crop-size", "24",
            "--batch-size", "2", "--steps", "5", "--log-every", "2", "--eval-every", "2",
            "--warmup-iters", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    assert main(["segment", "synth", str(root), "--num-train", "4", "--num-val", "2",
                 "--image-size", "32", "--min-size", "8", "--max-size", "16"]) == 0
    return ["--train", str(root / "train"), "--val", str(root / "val")]


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """A run of 5 steps, not interrupted."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["segment", "train", *data, *SETTINGS, "--out-dir", str(runs),
                 "--run-name", "whole"]) == 0
    return runs / "whole"


def assert_same_end(run, reference):
    """The same final weights and, but for the times, the same metrics rows."""
    ours, theirs = (load_checkpoint(r / "last.pt")["model"] for r in (run, reference))
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    rows = [[{k: v for k, v in json.loads(line).items() if k != "seconds"}
             for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (run, reference)]
    assert rows[0] == rows[1] and [row["step"] for row in rows[0]] == [2, 4, 5]


def test_ctrl_c_stops_after_the_step_and_the_run_resumes(data, finished, tmp_path, capsys,
                                                         monkeypatch):
    loss, calls = tasks._segmentation_loss, []

    def ctrl_c_in_step_3(model, batch, device):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the handler asks the loop to stop
        return loss(model, batch, device)

    monkeypatch.setattr(tasks, "_segmentation_loss", ctrl_c_in_step_3)
    with pytest.raises(SystemExit) as stop:
        main(["segment", "train", *data, *SETTINGS, "--out-dir", str(tmp_path),
              "--run-name", "cut"])
    run = tmp_path / "cut"
    assert stop.value.code == 130 and len(calls) == 3
    assert f"resnets segment train --resume {run}" in capsys.readouterr().out
    assert load_checkpoint(run / "last.pt")["step"] == 3  # mid-epoch, mid-row
    monkeypatch.setattr(tasks, "_segmentation_loss", loss)
    # A worker process loads the batches now: neither order nor augmentation changes.
    assert main(["segment", "train", "--resume", str(run), "--workers", "1"]) == 0
    assert_same_end(run, finished)
    assert json.loads((run / "config.json").read_text())["loop"]["workers"] == 1


def test_a_corrupt_checkpoint_falls_back_and_a_run_extends(finished, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    (run / "last.pt").write_bytes(b"torn write")  # step 5 is lost; last.prev.pt holds step 4
    with pytest.warns(CheckpointWarning, match="using the previous checkpoint"):
        assert main(["segment", "train", "--resume", str(run)]) == 0
    assert_same_end(run, finished)
    assert main(["segment", "train", "--resume", str(run), "--steps", "6",
                 "--device", "cpu"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 6
    assert load_checkpoint(run / "last.pt")["step"] == 6
    assert main(["segment", "train", "--resume", str(run), "--crop-size", "16"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "drop --crop-size" in err
    assert main(["segment", "train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_printed_config_fed_back_reproduces_the_run(data, finished, tmp_path, capsys):
    saved = json.loads((finished / "config.json").read_text())
    settings = {k: v for k, v in saved.items() if k != "classes"}  # classes: from the data
    assert main(["segment", "train", *data, *SETTINGS, "--out-dir", str(finished.parent),
                 "--run-name", "whole", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == settings
    runs = tmp_path / "runs"
    assert main(["segment", "train", "--config", str(finished / "config.json"), "--out-dir",
                 str(runs), "--print-config"]) == 0
    (tmp_path / "run.json").write_text(capsys.readouterr().out)
    assert main(["segment", "train", "--config", str(tmp_path / "run.json")]) == 0
    again = json.loads((runs / "whole" / "config.json").read_text())
    assert again == {**saved, "loop": {**saved["loop"], "out_dir": str(runs)}}
    assert_same_end(runs / "whole", finished)
    assert main(["segment", "train", "--resume", str(runs / "whole"), "--config",
                 str(tmp_path / "run.json")]) == 2
    assert "drop --config" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("data: {crop_size: -3}\n")
    assert main(["segment", "train", "--config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml': data.crop_size must be" in err, err
