"""Published weights on the user's images: `resnets evaluate|predict --model --weights`."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torchvision

from published_weights import place_in_cache, random_photos, torchvision_logits, wnid
from resnets.cli import main
from resnets.models.pretrained import imagenet_classes


@pytest.fixture(scope="module")
def resnet18_state():
    torch.manual_seed(0)
    return torchvision.models.resnet18().state_dict()


def arrange(tmp_path, state, ranks=(0, 2, 4, 5), tag="v1"):
    """Images each filed under the class its direct prediction ranks ``ranks[i]``-th: the
    expected top-1/top-5 are known from torchvision alone. Returns (root, labels, paths)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    paths = []
    for i, photo in enumerate(random_photos(len(ranks))):
        paths.append(staging / f"photo{i}.JPEG")
        photo.save(paths[-1], quality=95)
    order = torchvision_logits("resnet18", state, paths, tag).argsort(1, descending=True)
    root, labels, moved = tmp_path / "val", [], []
    for i, (path, rank) in enumerate(zip(paths, ranks)):
        label = int(order[i, rank])
        (root / wnid(label)).mkdir(parents=True, exist_ok=True)
        moved.append(shutil.move(path, root / wnid(label) / path.name))
        labels.append(label)
    return root, torch.tensor(labels), moved


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
    for label in labels.tolist():  # wnid folders -> class names, spelt loosely
        name = imagenet_classes()[label].replace(" ", "_").upper()
        (root / wnid(label)).rename(root / name)
    moved = [root / imagenet_classes()[int(l)].replace(" ", "_").upper() / p.name
             for p, l in zip(paths, labels)]
    top1, top5 = direct_accuracy(resnet18_state, moved, labels)
    assert main(["evaluate", "--model", "resnet18", "--weights", "imagenet", "--root",
                 str(root), "--out", str(tmp_path / "report"), "--workers", "0"]) == 0
    assert f"top-1 {100 * top1:.2f}%  top-5 {100 * top5:.2f}%" in capsys.readouterr().out
