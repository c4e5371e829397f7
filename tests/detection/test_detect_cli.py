"""`resnets detect` end to end on a tiny synthetic set, and its one-line errors."""

import json
import os
import shutil

import pytest

from resnets.cli import main

TINY = ["--backbone", "resnet18", "--norm", "batch", "--min-size", "64", "--max-size", "64",
        "--anchor-size", "8", "--fpn-channels", "16", "--box-head-size", "32",
        "--rois-per-image", "16", "--steps", "2", "--batch-size", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(shapes, tmp_path_factory):
    """A run directory holding run "r", trained for two steps on ``shapes``."""
    runs = tmp_path_factory.mktemp("runs")
    assert main(["detect", "train", "--train", str(shapes / "train/annotations.json"),
                 "--val", str(shapes / "val/annotations.json"), *TINY,
                 "--out-dir", str(runs), "--run-name", "r"]) == 0
    return runs


def test_train_evaluate_predict(shapes, runs, tmp_path, capsys):
    summary = json.loads((runs / "r/summary.json").read_text())
    assert summary["steps"] == 2 and 0 <= summary["map50"] <= 1
    assert summary["best_map"] == summary["map"]
    assert (runs / "r/last.pt").is_file() and (runs / "r/last.pt.sha256").is_file()
    capsys.readouterr()
    assert main(["detect", "evaluate", str(runs / "r"), "--device", "cpu",
                 "--out", str(tmp_path / "m.json")]) == 0
    metrics = json.loads(tmp_path.joinpath("m.json").read_text())
    assert metrics["map50"] == pytest.approx(summary["map50"])  # same weights, same data
    image = shapes / "val/images/00000.png"
    assert main(["detect", "predict", str(image), "--checkpoint", str(runs / "r"),
                 "--threshold", "0", "--out", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    detections = json.loads((tmp_path / "pred/detections.json").read_text())
    assert (tmp_path / "pred/00000.png").is_file()
    for entry in detections:
        assert entry["file_name"] == str(image) and entry["category"] in (
            "circle", "square", "triangle")
        assert len(entry["bbox"]) == 4 and 0 <= entry["score"] <= 1


def test_bad_annotations_stop_before_training(shapes, tmp_path, capsys):
    data = json.loads((shapes / "train/annotations.json").read_text())
    data["annotations"][0]["bbox"] = [60, 60, 30, 30]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code = main(["detect", "train", "--train", str(bad), "--train-images",
                 str(shapes / "train/images"), "--val", str(shapes / "val/annotations.json"),
                 *TINY, "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "bad.json" in err and "outside" in err and "--skip-bad" in err
    assert not any((tmp_path / "runs").iterdir())  # no run directory is left
    assert main(["detect", "evaluate", str(tmp_path)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


def test_an_unreadable_val_image_stops_before_training(shapes, tmp_path, capsys, bad_images):
    images = tmp_path / "val-images"
    shutil.copytree(shapes / "val/images", images)
    (images / "00001.png").write_bytes(bad_images["empty"])
    code = main(["detect", "train", "--train", str(shapes / "train/annotations.json"),
                 "--val", str(shapes / "val/annotations.json"), "--val-images", str(images),
                 *TINY, "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "00001.png (empty file (0 bytes)); 1 of 2 images" in err and "--skip-bad" in err
    assert not any((tmp_path / "runs").iterdir())


def _predict(runs, *args):
    return main(["detect", "predict", *map(str, args), "--checkpoint", str(runs / "r"),
                 "--device", "cpu"])


def test_predict_never_overwrites_an_input_and_names_collisions_apart(shapes, runs, tmp_path,
                                                                      capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for folder in (a, b):
        shutil.copy(shapes / f"val/images/0000{folder is b:d}.png", folder / "photo.png")
    originals = {p: p.read_bytes() for p in (a / "photo.png", b / "photo.png")}
    capsys.readouterr()
    assert _predict(runs, a / "photo.png", b / "photo.png", "--out", a) == 0
    assert {p: p.read_bytes() for p in originals} == originals  # inputs untouched
    written = [line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines()]
    assert written == [str(a / "photo-2.png"), str(a / "photo-3.png"),
                       str(a / "detections.json")]
    assert sorted(p.name for p in a.iterdir()) == ["detections.json", "photo-2.png",
                                                   "photo-3.png", "photo.png"]
    detections = json.loads((a / "detections.json").read_text())
    assert {d["file_name"] for d in detections} <= {str(p) for p in originals}


def test_predict_treats_a_link_to_an_input_as_that_input(shapes, runs, tmp_path, capsys):
    source = tmp_path / "in/photo.png"
    source.parent.mkdir()
    shutil.copy(shapes / "val/images/00000.png", source)
    out = tmp_path / "out"
    out.mkdir()
    os.link(source, out / "photo.png")  # a hard link: same file, another path
    original = source.read_bytes()
    assert _predict(runs, source, "--out", out) == 0
    assert source.read_bytes() == original and (out / "photo-2.png").is_file()
    (out / "detections.json").unlink()
    (out / "detections.json").symlink_to(source)
    assert _predict(runs, source, "--out", out) == 2
    assert "would be overwritten" in capsys.readouterr().err and source.read_bytes() == original


def test_predict_into_a_file_or_a_full_disk_is_one_line(shapes, runs, tmp_path, capsys,
                                                        full_disk):
    image = shapes / "val/images/00000.png"
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "file", "is a file, not a folder"),
                         (full_disk, "no space left on device")):
        capsys.readouterr()
        assert _predict(runs, image, "--out", out) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err
    assert sorted(p.name for p in full_disk.iterdir()) == [".filler"]  # nothing half-written
    assert main(["detect", "evaluate", str(runs / "r"), "--device", "cpu", "--out",
                 str(full_disk / "m.json")]) == 2
    assert "no space left on device" in capsys.readouterr().err


def test_synth_refuses_a_folder_with_files_unless_forced(tmp_path, capsys):
    mine = tmp_path / "train/annotations.json"
    mine.parent.mkdir()
    mine.write_text("{}")
    synth = ["detect", "synth", str(tmp_path), "--num-train", "1", "--num-val", "1",
             "--image-size", "32", "--max-size", "16", "--min-size", "8"]
    assert main(synth) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is not empty" in err and "--force" in err
    assert mine.read_text() == "{}"
    assert main([*synth, "--force"]) == 0
    assert json.loads(mine.read_text())["categories"]  # replaced by the generated file


def test_predict_checks_its_inputs_before_loading_a_model(tmp_path, capsys, bad_images):
    empty = tmp_path / "empty.png"
    empty.write_bytes(bad_images["empty"])
    assert _predict(tmp_path / "no-run", empty, "--out", tmp_path / "out") == 2  # no model
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "empty.png (empty file (0 bytes))" in err
    assert not (tmp_path / "out").exists()
