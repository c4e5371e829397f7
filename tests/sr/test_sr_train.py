"""`resnets sr train` on the engine: resume bit for bit, torchrun, --print-config, recipes,
and bad folders refused in one line before any work."""

import json
import re

import pytest

from dense_training import (assert_print_config_round_trips, assert_recipes,
                            assert_resumes_bit_for_bit, printed, rows, two_processes)
from resnets.cli import main
from sr_folders import write_image

# 2 images x 2 patches an epoch, 2 a step: 2 steps an epoch, the third epoch stops after
# step 5; random patches, flips and transpositions; an evaluation after each epoch.
SETTINGS = ["--model", "edsr_baseline_x2", "--blocks", "1", "--features", "4",
            "--patch-size", "8", "--repeat", "2", "--batch-size", "2", "--steps", "5",
            "--lr", "0.001", "--device", "cpu", "deterministic=true", "eval_every=1"]


def folders(root) -> list[str]:
    return ["--train", str(root / "train"), "--val", str(root / "val")]


@pytest.fixture(scope="module")
def finished(photos, tmp_path_factory):
    """A run of 5 steps, not interrupted."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["sr", "train", *folders(photos), *SETTINGS, "--out-dir", str(runs),
                 "--run-name", "whole"]) == 0
    return runs / "whole"


def test_an_interrupted_run_resumes_to_the_same_weights(photos, finished, tmp_path, capsys,
                                                        monkeypatch):
    # A worker process cuts the patches after the resume: neither order nor patches change.
    assert_resumes_bit_for_bit(["sr", "train", *folders(photos), *SETTINGS], finished,
                               tmp_path, monkeypatch, capsys, step=3, extra=["--workers", "1"])
    assert [row["step"] for row in rows(finished)] == [2, 4, 5]
    first = rows(finished)[0]
    assert {"train_loss_l1", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} <= set(first)
    assert first["psnr_gain"] == pytest.approx(first["psnr"] - first["bicubic_psnr"])


def test_two_processes_train_with_a_share_each(photos, tmp_path):
    two = two_processes(["sr", "train", *folders(photos), *SETTINGS, "--batch-size", "4",
                         "--steps", "2"], tmp_path)
    assert [row["step"] for row in rows(two)] == [1, 2]
    summary = json.loads((two / "summary.json").read_text())
    assert main(["sr", "evaluate", str(two), "--device", "cpu", "--out",
                 str(tmp_path / "m.json")]) == 0
    evaluated = json.loads((tmp_path / "m.json").read_text())
    assert evaluated["psnr"] == pytest.approx(summary["psnr"])  # the weights all processes hold
    assert evaluated["bicubic_psnr"] == pytest.approx(summary["bicubic_psnr"])


def test_printed_config_fed_back_gives_the_same_config(photos, tmp_path, capsys):
    assert_print_config_round_trips(["sr", "train", *folders(photos), *SETTINGS, "--steps",
                                     "1", "network.residual=false"], tmp_path, capsys)
    config = json.loads((tmp_path / "again/config.json").read_text())
    assert config["task"] == "super-resolution" and config["network"]["residual"] is False


def test_recipes_resolve(photos, capsys):
    assert_recipes(["sr", "train", *folders(photos)], {
        "photos-vdsr-x2": {"network.name": "vdsr_x2", "network.layers": 8},
        "div2k-edsr-baseline-x2": {"network.name": "edsr_baseline_x2", "iterations": 300_000,
                                   "data.patch_size": 48, "batch_size": 16}}, capsys)
    config = printed(["sr", "train", *folders(photos)], capsys)  # EDSR's defaults
    assert (config["optim"]["name"], config["optim"]["lr"], config["batch_size"]) == (
        "adamw", 1e-4, 16)


def bad_folder(kind, root):
    train = root / "train"
    train.mkdir(parents=True)
    if kind == "small":
        write_image(train / "tiny.png", 12, 40)
    elif kind == "corrupt":
        write_image(train / "good.png", 40, 40)
        (train / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return train


@pytest.mark.parametrize("kind, words", [
    ("empty", r"data.train: .* holds no image \(.jpg"),
    ("small", r"tiny.png is 12x40, smaller than the 16x16 high-resolution training patch "
              r"\(data.patch_size=8 at x2\); lower data.patch_size"),
    ("corrupt", r"cannot read image .*broken.png .*1 of 2 images"),
])
def test_bad_training_folders_are_one_line_before_training(kind, words, photos, tmp_path,
                                                           capsys):
    train = bad_folder(kind, tmp_path / "data")
    runs = tmp_path / "runs"
    assert main(["sr", "train", "--train", str(train), "--val", str(photos / "val"),
                 *SETTINGS, "--out-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("resnets sr: error: "), err
    assert re.search(words, err), err
    assert not runs.exists() or not any(runs.iterdir())  # no run directory is left


@pytest.mark.parametrize("settings, words", [
    (["--model", "resnet20"], "network.name='resnet20' is a classification model; "
     "super-resolution needs a super-resolution model"),
    (["--model", "vdsr_x2"], "unknown option 'blocks' for vdsr_x2"),
    (["--repeat", "1", "--batch-size", "4"], "give 2 patches an epoch"),
    (["--val", "nowhere"], "data.val: no folder"),
    (["data.downscales=1.0,1.5"], "data.downscales must be a comma-separated list of finite "
     "numbers in (0, 1], got (1.0, 1.5)"),
    (["data.downscales="], "data.downscales is empty; give at least one factor"),
])
def test_bad_settings_are_one_line_before_training(settings, words, photos, tmp_path, capsys):
    assert main(["sr", "train", *folders(photos), *SETTINGS, *settings, "--out-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not any(tmp_path.iterdir())
