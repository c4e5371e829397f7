"""`resnets detect train` on the engine: resume bit for bit, torchrun, --config and
--print-config, the old flags, recipes and the refusals of --resume."""

import json
import shutil

import pytest

from dense_training import (ENGINE_FLAG_CASES, TOLERANCE, assert_flags_set,
                            assert_print_config_round_trips, assert_recipes, assert_renamed,
                            assert_resumes_bit_for_bit, max_difference, printed, rows,
                            run_keeping, two_processes, weights)
from resnets.cli import main
from resnets.train.checkpoint import load_checkpoint, save_checkpoint

MODEL = ["--backbone", "resnet18", "--norm", "batch", "--min-size", "64", "--max-size", "64",
         "--anchor-size", "8", "--fpn-channels", "16", "--box-head-size", "32",
         "--rois-per-image", "16", "--device", "cpu"]
# 4 images, 2 a step: 2 steps an epoch, an evaluation and a checkpoint after each epoch.
LOOP = ["--steps", "4", "--batch-size", "2", "--optimizer", "adamw", "--lr", "0.001",
        "--warmup-iters", "2", "deterministic=true", "eval_every=1"]


@pytest.fixture(scope="module")
def data(shapes):
    return ["--train", str(shapes / "train/annotations.json"),
            "--val", str(shapes / "val/annotations.json")]


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """A run of 4 steps, not interrupted."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["detect", "train", *data, *MODEL, *LOOP, "--out-dir", str(runs),
                 "--run-name", "whole"]) == 0
    return runs / "whole"


def test_an_interrupted_run_resumes_to_the_same_weights(data, finished, tmp_path, capsys,
                                                        monkeypatch):
    assert_resumes_bit_for_bit(["detect", "train", *data, *MODEL, *LOOP], finished, tmp_path,
                               monkeypatch, capsys, step=1)  # inside the first epoch
    assert [row["step"] for row in rows(finished)] == [2, 4]
    assert 0 <= rows(finished)[-1]["map50"] <= 1 and "train_loss_classifier" in rows(finished)[0]
    assert (finished / "best.pt").is_file()  # the best map so far


# RetinaNet has no random sampling and averages its losses over the images, and frozen
# BatchNorm keeps no batch statistics: two processes of 2 images take the steps of one of 4.
RETINA = ["--arch", "retinanet", "--norm", "frozen", "--backbone", "resnet18", "--min-size",
          "64", "--max-size", "64", "--anchor-size", "8", "--fpn-channels", "16",
          "--device", "cpu", "--steps", "2", "--batch-size", "4", "--lr", "0.01",
          "--warmup-iters", "0", "schedule.name=constant", "deterministic=true"]


def test_two_processes_reach_the_weights_of_one(data, tmp_path, monkeypatch):
    argv = ["detect", "train", *data, *RETINA]
    after_first = run_keeping([*argv, "--out-dir", str(tmp_path / "one"), "--run-name", "one"],
                              monkeypatch, step=1)
    one = weights(tmp_path / "one/one")
    two = two_processes(argv, tmp_path / "two")
    assert max_difference(one, weights(two)) < TOLERANCE
    assert max_difference(after_first, one) > 100 * TOLERANCE  # the last step has teeth
    summaries = [json.loads((r / "summary.json").read_text()) for r in (tmp_path / "one/one",
                                                                        two)]
    assert summaries[0]["map"] == pytest.approx(summaries[1]["map"], abs=1e-6)


def test_printed_config_fed_back_gives_the_same_config(data, tmp_path, capsys):
    assert_print_config_round_trips(["detect", "train", *data, *MODEL, *LOOP, "--steps", "1"],
                                    tmp_path, capsys)
    config = json.loads((tmp_path / "again/config.json").read_text())
    assert config["task"] == "detection" and config["iterations"] == 1
    assert config["data"]["train"] == data[1]  # absolute already; relative ones are made so


OLD_FLAGS = [
    *ENGINE_FLAG_CASES, (["--arch", "retinanet"], "detector.arch", "retinanet"),
    (["--backbone", "resnet34"], "detector.backbone", "resnet34"),
    (["--norm", "group"], "detector.norm", "group"),
    (["--trainable-layers", "5"], "detector.trainable_layers", 5),
    (["--weights", "w.pt"], "detector.weights", "w.pt"),
    (["--fpn-channels", "8"], "detector.fpn_channels", 8),
    (["--min-size", "32"], "detector.min_size", 32),
    (["--max-size", "1500"], "detector.max_size", 1500),
    (["--anchor-size", "4"], "detector.anchor_size", 4),
    (["--box-head-size", "16"], "detector.box_head_size", 16),
    (["--rois-per-image", "8"], "detector.rois_per_image", 8),
    (["--score-threshold", "0.2"], "detector.score_threshold", 0.2),
]


def test_each_old_flag_sets_its_setting(data, shapes, tmp_path, capsys, monkeypatch):
    assert_flags_set(["detect", "train", *data], OLD_FLAGS, capsys)
    monkeypatch.chdir(shapes)  # paths are made absolute
    config = printed(["detect", "train", "--train", "train/annotations.json", "--val",
                      "val/annotations.json", "--train-images", "train/images",
                      "--val-images", "val/images"], capsys)["data"]
    assert config == {"train": data[1], "val": data[3], "skip_bad": False, "workers": 0,
                      "train_images": str(shapes / "train/images"),
                      "val_images": str(shapes / "val/images")}
    assert_renamed(["detect", "train", *data], [
        ("--eval-every", "eval_every=N evaluates every N epochs"),
        ("--log-every", "a metrics row is written after every epoch")], capsys)


def test_recipes_resolve(data, capsys):
    assert_recipes(["detect", "train", *data], {
        "shapes-fasterrcnn": {"detector.backbone": "resnet18", "iterations": 200},
        "coco-fasterrcnn-resnet50-fpn": {"epochs": 26, "schedule.milestone_epochs": [16, 22],
                                         "optim.lr": 0.02, "batch_size": 16}}, capsys)


@pytest.mark.parametrize("extra, message", [
    (["--lr", "0.1"], "drop optim.lr=0.1"),
    (["--fpn-channels", "8"], "drop detector.fpn_channels=8"),
    (["--config", "c.yaml"], "drop --config"),
    ([], "already took 4 of its 4 steps"),
])
def test_resume_refuses_other_settings(finished, capsys, extra, message):
    assert main(["detect", "train", "--resume", str(finished), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_resume_takes_more_steps_and_other_workers(finished, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    assert main(["detect", "train", "--resume", str(run), "--steps", "6", "--workers",
                 "1"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["iterations"], config["data"]["workers"]) == (6, 1)
    assert load_checkpoint(run / "last.pt")["step"] == 6


def test_resume_needs_a_detection_run_with_a_checkpoint(finished, tmp_path, capsys):
    assert main(["detect", "train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    shutil.copy(finished / "config.json", tmp_path)
    assert main(["detect", "train", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert main(["segment", "train", "--resume", str(finished)]) == 2
    assert "pass it to `resnets detect train`" in capsys.readouterr().err
    assert main(["detect", "train", "--val", "v.json"]) == 2
    assert "--train is required" in capsys.readouterr().err


def test_a_reused_run_name_is_refused_and_the_run_kept(data, finished, capsys):
    before = (finished / "last.pt").read_bytes()
    assert main(["detect", "train", *data, *MODEL, *LOOP, "--out-dir", str(finished.parent),
                 "--run-name", "whole"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"resume it with --resume {finished}" in err
    assert (finished / "last.pt").read_bytes() == before


@pytest.mark.parametrize("fields, message", [
    ({"classes": ["circle", "circle", "square"]}, "classes name 'circle' twice"),
    ({"category_ids": [1, 1, 2]}, "category_ids must be 3 distinct integers"),
    ({"classes": ["a", "b", "c", "d", "e"], "category_ids": [1, 2, 3, 4, 5]},
     "but its metadata makes it"),
    ({"detector": {"arch": "fasterrcnn", "backbone_name": "x"}}, "unknown keys 'backbone_name'"),
])
def test_evaluate_refuses_wrong_checkpoint_metadata_before_building(finished, tmp_path,
                                                                    capsys, fields, message):
    state = load_checkpoint(finished / "last.pt")
    path = save_checkpoint(tmp_path / "bad.pt", {**state, **fields})
    assert main(["detect", "evaluate", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and len(err.strip().splitlines()) == 1
