"""`resnets segment train` on the engine: resume bit for bit, torchrun, --config and
--print-config, the old flags, recipes and the refusals of --resume."""

import json
import shutil

import pytest

from dense_training import (ENGINE_FLAG_CASES, assert_flags_set,
                            assert_print_config_round_trips, assert_recipes, assert_renamed,
                            assert_resumes_bit_for_bit, printed, rows, two_processes)
from resnets.cli import main
from resnets.train.checkpoint import CheckpointWarning, load_checkpoint

# 4 images, 2 a step: 2 steps an epoch, the third epoch stops after step 5. Random flips and
# crops, dropout in the DeepLabV3 head; an evaluation and a checkpoint after each epoch.
SETTINGS = ["--backbone", "resnet18", "--output-stride", "16", "--crop-size", "24",
            "--batch-size", "2", "--steps", "5", "--warmup-iters", "2", "--device", "cpu",
            "deterministic=true", "eval_every=1"]


@pytest.fixture(scope="module")
def data(shapes):
    return ["--train", str(shapes / "train"), "--val", str(shapes / "val")]


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    """A run of 5 steps, not interrupted."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["segment", "train", *data, *SETTINGS, "--out-dir", str(runs),
                 "--run-name", "whole"]) == 0
    return runs / "whole"


def test_an_interrupted_run_resumes_to_the_same_weights(data, finished, tmp_path, capsys,
                                                        monkeypatch):
    # A worker process loads the batches after the resume: neither order nor crops change.
    assert_resumes_bit_for_bit(["segment", "train", *data, *SETTINGS], finished, tmp_path,
                               monkeypatch, capsys, step=3, extra=["--workers", "1"])
    assert json.loads((tmp_path / "cut/config.json").read_text())["data"]["workers"] == 1
    assert [row["step"] for row in rows(finished)] == [2, 4, 5]
    assert {"train_loss_out", "train_loss_aux", "miou", "iou/circle"} <= set(rows(finished)[0])


def test_a_corrupt_checkpoint_falls_back_and_a_run_extends(finished, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    (run / "last.pt").write_bytes(b"torn write")  # step 5 is lost; last.prev.pt holds step 4
    with pytest.warns(CheckpointWarning, match="using the previous checkpoint"):
        assert main(["segment", "train", "--resume", str(run)]) == 0
    assert rows(run) == rows(finished)
    assert main(["segment", "train", "--resume", str(run), "--steps", "6"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 6 and set(summary["iou"]) == {"background", "circle",
                                                             "square", "triangle"}
    assert load_checkpoint(run / "last.pt")["step"] == 6


def test_two_processes_train_with_a_share_each(data, tmp_path):
    # Two images a process: the BatchNorm after ASPP's global pooling needs two.
    two = two_processes(["segment", "train", *data, *SETTINGS, "--batch-size", "4",
                         "--steps", "2"], tmp_path)
    assert [row["step"] for row in rows(two)] == [1, 2]
    summary = json.loads((two / "summary.json").read_text())
    assert main(["segment", "evaluate", str(two), "--device", "cpu", "--out",
                 str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["miou"] == pytest.approx(
        summary["miou"])  # the metrics of the weights every process holds


def test_printed_config_fed_back_gives_the_same_config(data, tmp_path, capsys):
    assert_print_config_round_trips(["segment", "train", *data, *SETTINGS, "--steps", "1"],
                                    tmp_path, capsys)


OLD_FLAGS = [
    *ENGINE_FLAG_CASES, (["--crop-size", "16"], "data.crop_size", 16),
    (["--num-classes", "4"], "data.num_classes", 4),
    (["--head", "fcn"], "segmenter.head", "fcn"),
    (["--backbone", "resnet34"], "segmenter.backbone", "resnet34"),
    (["--output-stride", "16"], "segmenter.output_stride", 16),
    (["--norm", "group"], "segmenter.norm", "group"),
    (["--trainable-layers", "2"], "segmenter.trainable_layers", 2),
    (["--weights", "w.pt"], "segmenter.weights", "w.pt"),
    (["--aux-loss"], "segmenter.aux_loss", True),
]


def test_each_old_flag_sets_its_setting(data, shapes, capsys, monkeypatch):
    assert_flags_set(["segment", "train", *data], OLD_FLAGS, capsys)
    monkeypatch.chdir(shapes)  # paths are made absolute
    config = printed(["segment", "train", "--train", "train", "--val", "val"], capsys)
    assert (config["data"]["train"], config["data"]["val"]) == (data[1], data[3])
    assert_renamed(["segment", "train", *data], [
        ("--eval-every", "eval_every=N evaluates every N epochs"),
        ("--log-every", "a metrics row is written after every epoch"),
        ("--no-aux-loss", "segmenter.aux_loss=false")], capsys)


def test_recipes_resolve(data, capsys):
    assert_recipes(["segment", "train", *data], {
        "shapes-deeplabv3": {"segmenter.backbone": "resnet18", "iterations": 150},
        "voc-deeplabv3-resnet50": {"epochs": 30, "batch_size": 32, "data.crop_size": 480,
                                   "segmenter.output_stride": 8}}, capsys)


def test_one_image_a_step_is_refused_for_deeplabv3(data, tmp_path, capsys):
    assert main(["segment", "train", *data, *SETTINGS, "--batch-size", "1", "--out-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BatchNorm after its global pooling needs two" in err
    assert not any(tmp_path.iterdir())  # no run directory is left


def test_resume_refuses_other_settings(finished, capsys):
    for extra, message in ((["--crop-size", "16"], "drop data.crop_size=16"),
                           (["--config", "c.yaml"], "drop --config")):
        assert main(["segment", "train", "--resume", str(finished), *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
    assert main(["segment", "train", "--resume", str(finished.parent / "nothing")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    (finished.parent / "bad.yaml").write_text("data: {crop_size: -3}\n")
    assert main(["segment", "train", "--config", str(finished.parent / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.crop_size must be" in err, err


def test_swa_runs_for_a_task_without_model_inputs(data, tmp_path):
    """The segmentation task gives no model input for BatchNorm re-estimation: SWA averages
    its weights (epochs 2 and 3 of 3) and keeps the live model's statistics."""
    assert main(["segment", "train", *data, *SETTINGS, "optim.swa_start=0.5",
                 "--out-dir", str(tmp_path), "--run-name", "swa"]) == 0
    averaged = load_checkpoint(tmp_path / "swa" / "swa.pt")
    live = load_checkpoint(tmp_path / "swa" / "last.pt")["model"]
    assert averaged["averaged"] == {"method": "swa", "models": 2}
    stats = [k for k in live if "running_" in k]
    assert stats and all((averaged["model"][k] == live[k]).all() for k in stats)
    assert any(not (averaged["model"][k] == live[k]).all() for k in live if k not in stats)
