"""`resnets detect` end to end on a tiny synthetic set, and its one-line errors."""

import json
import shutil

import pytest

from resnets.cli import main

TINY = ["--backbone", "resnet18", "--norm", "batch", "--min-size", "64", "--max-size", "64",
        "--anchor-size", "8", "--fpn-channels", "16", "--box-head-size", "32",
        "--rois-per-image", "16", "--steps", "2", "--batch-size", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    assert main(["detect", "synth", str(root), "--num-train", "4", "--num-val", "2",
                 "--image-size", "64", "--max-size", "24"]) == 0
    return root


def test_train_evaluate_predict(shapes, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["detect", "train", "--train", str(shapes / "train/annotations.json"),
                 "--val", str(shapes / "val/annotations.json"), *TINY,
                 "--out-dir", str(runs), "--run-name", "r"]) == 0
    summary = json.loads((runs / "r/summary.json").read_text())
    assert summary["steps"] == 2 and 0 <= summary["map50"] <= 1
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
    assert not (tmp_path / "runs").exists()  # nothing was started
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
    assert not (tmp_path / "runs").exists()
