"""Published weights on the user's images: `resnets evaluate|predict --model --weights`."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from published_weights import (arrange, place_in_cache, random_photos, torchvision_logits,
                               wnid)
from resnets.cli import main
from resnets.models.pretrained import imagenet_classes


@pytest.fixture(scope="module")
def resnet18_state():
    torch.manual_seed(0)
    return torchvision.models.resnet18().state_dict()


def direct_accuracy(state, paths, labels, tag="v1"):
    logits = torchvision_logits("resnet18", state, paths, tag)
    top5 = logits.topk(5, 1).indices
    return ((top5[:, 0] == labels).float().mean().item(),
            (top5 == labels[:, None]).any(1).float().mean().item())


def test_evaluate_published_weights_on_an_imagenet_folder(tmp_path, monkeypatch, capsys,
                                                          resnet18_state):
    place_in_cache(monkeypatch, tmp_path, "resnet18", resnet18_state)
    root, labels, paths = arrange(tmp_path, resnet18_state)
    top1, top5 = direct_accuracy(resnet18_state, paths, labels)
    assert (top1, top5) == (0.25, 0.75)  # the arrangement did what it says
    out = tmp_path / "report"
    assert main(["evaluate", "--model", "resnet18", "--weights", "imagenet", "--root",
                 str(root), "--out", str(out), "--workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert f"top-1 {100 * top1:.2f}%  top-5 {100 * top5:.2f}%" in printed
    report = json.loads((out / "evaluation.json").read_text())
    assert report["top1_accuracy"] == pytest.approx(top1)
    assert report["top5_accuracy"] == pytest.approx(top5)
    assert report["images"] == 4 and (out / "confusion.png").stat().st_size > 0
    first = imagenet_classes()[int(labels[0])]
    assert report["per_class_accuracy"][first] == 1.0  # its only image is ranked first
    assert [c["wnid"] for c in report["classes"]] == sorted(wnid(int(i)) for i in labels)


def test_class_name_folders_give_the_same_labels(tmp_path, monkeypatch, capsys,
                                                 resnet18_state):
    place_in_cache(monkeypatch, tmp_path, "resnet18", resnet18_state)
    root, labels, paths = arrange(tmp_path, resnet18_state, ranks=(0, 1, 7))
    def folder(label):  # a class name, spelt loosely
        return imagenet_classes()[label].replace(" ", "_").upper()

    for label in labels.tolist():
        (root / wnid(label)).rename(root / folder(label))
    moved = [root / folder(int(label)) / path.name for path, label in zip(paths, labels)]
    top1, top5 = direct_accuracy(resnet18_state, moved, labels)
    assert main(["evaluate", "--model", "resnet18", "--weights", "imagenet", "--root",
                 str(root), "--out", str(tmp_path / "report"), "--workers", "0"]) == 0
    assert f"top-1 {100 * top1:.2f}%  top-5 {100 * top5:.2f}%" in capsys.readouterr().out


def test_predict_prints_imagenet_class_names(tmp_path, monkeypatch, capsys, resnet18_state):
    place_in_cache(monkeypatch, tmp_path, "resnet18", resnet18_state)
    paths = []
    for i, photo in enumerate(random_photos(2, seed=3)):
        paths.append(tmp_path / f"photo{i}.jpg")
        photo.save(paths[-1])
    assert main(["predict", "--model", "resnet18", "--weights", "imagenet", "--topk", "3",
                 *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    probs = torchvision_logits("resnet18", resnet18_state, paths).softmax(1)
    for i, path in enumerate(paths):
        block = lines[4 * i:4 * i + 4]
        assert block[0] == str(path)
        values, indices = probs[i].topk(3)
        for line, value, index in zip(block[1:], values, indices):
            assert line.split() == [*imagenet_classes()[index].split(),
                                    f"{100 * value:.2f}%"]


def test_the_v2_weights_are_fed_through_their_own_transform(tmp_path, monkeypatch):
    from resnets.train.published import folder_loader, published_config

    place_in_cache(monkeypatch, tmp_path, "resnet18", {}, tag="v2")
    (tmp_path / "val" / wnid(3)).mkdir(parents=True)
    random_photos(1)[0].resize((300, 260)).save(tmp_path / "val" / wnid(3) / "a.JPEG")
    dataset, _ = folder_loader(published_config("resnet18", "imagenet:v2"), tmp_path / "val",
                               1, 0)
    image, label = dataset[0]
    preset = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    from PIL import Image

    expected = preset(Image.open(tmp_path / "val" / wnid(3) / "a.JPEG").convert("RGB"))
    assert label == 3 and torch.equal(image, expected)


@pytest.mark.parametrize("argv, message", [
    (["--model", "resnet19", "--root", "VAL"], "unknown model 'resnet19'"),
    (["--model", "resnet20", "--root", "VAL"], "resnet20 has no published ImageNet weights"),
    (["--model", "resnet18", "--weights", "imagenet:v3", "--root", "VAL"], "one of v1, v2"),
    (["--model", "resnet18", "--weights", "my.pth", "--root", "VAL"],
     "published weights are 'imagenet'"),
    (["--model", "resnet18", "--root", "MISSING"], "not found"),
    (["--model", "resnet18", "--root", "BAD"], "class folder 'holiday' is neither"),
    (["--model", "resnet18"], "pass --root FOLDER"),
    (["--model", "resnet18", "--root", "VAL", "--out", "VAL/report"],
     "is inside the image folder"),
    (["--model", "resnet18", "--root", "VAL", "--ten-crop"], "--ten-crop and --split"),
    (["VAL", "--model", "resnet18"], "not both"),
    ([], "RUN_DIR|CHECKPOINT is required"),
    (["VAL", "--weights", "imagenet"], "--weights goes with --model"),
    (["VAL", "--batch-size", "8"], "--batch-size and --workers go with --model"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, argv, message):
    place_in_cache(monkeypatch, tmp_path, "resnet18", {"not": torch.zeros(1)})
    read = []
    monkeypatch.setattr("resnets.models.registry.fetch_state_dict",
                        lambda *a, **k: read.append(a))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "VAL" / wnid(0)).mkdir(parents=True)
    (tmp_path / "BAD" / wnid(0)).mkdir(parents=True)
    (tmp_path / "BAD" / "holiday").mkdir()
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("resnets: error:")
    assert not read and not (tmp_path / "runs").exists()


def test_the_report_goes_to_a_new_folder_never_among_the_images(tmp_path, monkeypatch,
                                                               resnet18_state):
    place_in_cache(monkeypatch, tmp_path, "resnet18", resnet18_state)
    root, _, _ = arrange(tmp_path, resnet18_state, ranks=(0,))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # a second evaluation takes a folder of its own
        assert main(["evaluate", "--model", "resnet18", "--root", str(root),
                     "--workers", "0"]) == 0
    reports = sorted((tmp_path / "runs").glob("evaluate-resnet18-v1-*/evaluation.json"))
    assert len(reports) == 2 and json.loads(reports[0].read_text())["top1_accuracy"] == 1.0
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_offline_without_the_file_one_line_names_it_and_leaves_no_folder(tmp_path,
                                                                        monkeypatch, capsys,
                                                                        resnet18_state):
    served = place_in_cache(monkeypatch, tmp_path, "resnet18", resnet18_state)
    root, _, _ = arrange(tmp_path, resnet18_state, ranks=(0,))
    served.unlink()  # the cache is empty and the network unreachable
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--model", "resnet18", "--root", str(root),
                 "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert f"cannot download {served.name}" in err and err.count("\n") == 1
    assert list((tmp_path / "runs").iterdir()) == []


def test_many_classes_get_no_confusion_png(tmp_path, monkeypatch, resnet18_state):
    from resnets.train import published

    place_in_cache(monkeypatch, tmp_path, "resnet18", resnet18_state)
    root, _, _ = arrange(tmp_path, resnet18_state, ranks=(0, 1))
    monkeypatch.setattr(published, "PLOTTED_CLASSES", 0)
    report = published.evaluate_published("resnet18", "imagenet", root, str(tmp_path / "r"),
                                          workers=0, device="cpu")
    assert report["confusion_png"] is None and not (tmp_path / "r" / "confusion.png").exists()
    assert len(report["confusion"]) == len(report["classes"]) + 1
