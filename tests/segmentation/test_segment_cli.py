"""`resnets segment` end to end on a tiny synthetic set, and its one-line errors."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from resnets.cli import main


@pytest.fixture(scope="module")
def runs(shapes, tmp_path_factory):
    """A run directory holding run "r", trained for two steps on ``shapes``."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["segment", "train", "--train", str(shapes / "train"), "--val",
                 str(shapes / "val"), "--backbone", "resnet18", "--output-stride", "16",
                 "--steps", "2", "--batch-size", "2", "--crop-size", "24", "--device", "cpu",
                 "--out-dir", str(runs), "--run-name", "r"]) == 0
    return runs


def test_train_evaluate_predict(shapes, runs, tmp_path):
    summary = json.loads((runs / "r/summary.json").read_text())
    assert set(summary["iou"]) == {"background", "circle", "square", "triangle"}
    assert main(["segment", "evaluate", str(runs / "r"), "--device", "cpu", "--out",
                 str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["miou"] == pytest.approx(summary["miou"])
    image = shapes / "val/images/00001.png"
    assert main(["segment", "predict", str(image), "--checkpoint", str(runs / "r"),
                 "--out", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    with Image.open(tmp_path / "pred/00001_overlay.png") as overlay:
        assert overlay.size == (32, 32) and overlay.mode == "RGB"
    with Image.open(tmp_path / "pred/00001_mask.png") as mask:
        assert mask.mode == "P" and np.asarray(mask).max() <= 3


def test_a_mask_of_the_wrong_size_stops_before_training(shapes, tmp_path, capsys):
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "masks").mkdir()
    Image.open(shapes / "val/images/00000.png").save(bad / "images/x.png")
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(bad / "masks/x.png")
    code = main(["segment", "train", "--train", str(bad), "--val", str(shapes / "val"),
                 "--num-classes", "4", "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "masks/x.png is 16x16 but its image is 32x32" in err
    assert not any((tmp_path / "runs").iterdir())  # no run directory is left


def test_an_unreadable_val_image_stops_before_training(shapes, tmp_path, capsys, bad_images):
    val = tmp_path / "val"
    shutil.copytree(shapes / "val", val)
    (val / "images/00001.png").write_bytes(bad_images["truncated"])
    code = main(["segment", "train", "--train", str(shapes / "train"), "--val", str(val),
                 "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot read image" in err and "00001.png" in err and "--skip-bad" in err
    assert not any((tmp_path / "runs").iterdir())  # no run directory is left


def test_predict_never_overwrites_an_input_and_names_collisions_apart(shapes, runs, tmp_path,
                                                                      capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(shapes / "val/images/00000.png", a / "x_overlay.png")  # named like an output
    shutil.copy(shapes / "val/images/00001.png", b / "x.png")
    (a / "x.png").symlink_to(a / "x_overlay.png")
    originals = {p: p.read_bytes() for p in (a / "x_overlay.png", b / "x.png")}
    capsys.readouterr()
    assert main(["segment", "predict", str(a / "x.png"), str(b / "x.png"), "--checkpoint",
                 str(runs / "r"), "--out", str(a), "--device", "cpu"]) == 0
    assert {p: p.read_bytes() for p in originals} == originals
    written = [line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines()]
    assert written == [str(a / n) for n in ("x-2_overlay.png", "x-2_mask.png",
                                            "x-3_overlay.png", "x-3_mask.png")]


def test_predict_on_a_full_disk_is_one_line(shapes, runs, full_disk, capsys):
    assert main(["segment", "predict", str(shapes / "val/images/00000.png"), "--checkpoint",
                 str(runs / "r"), "--out", str(full_disk / "pred"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no space left on device" in err


def test_synth_refuses_a_folder_with_files_and_fails_on_a_full_disk_in_one_line(
        tmp_path, full_disk, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "classes.txt").write_text("my classes\n")
    synth = ["segment", "synth", "--num-train", "1", "--num-val", "1", "--image-size", "32",
             "--min-size", "8", "--max-size", "16"]
    for root, message in ((mine, "is not empty (it holds classes.txt)"),
                          (full_disk / "shapes", "no space left on device")):
        assert main([*synth, str(root)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err
    assert (mine / "classes.txt").read_text() == "my classes\n"
    assert main([*synth, str(mine), "--force"]) == 0
    assert (mine / "classes.txt").read_text().split() == ["background", "circle",
                                                              "square", "triangle"]
