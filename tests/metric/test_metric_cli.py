"""`resnets metric train` on the engine: resume bit for bit, torchrun with Gloo, the
configuration round trip, refusals; and `resnets verify` end to end on a generated LFW set."""

import json

import pytest
import torch
import torch.nn.functional as F

from launching import interrupt, max_difference, same_weights, torchrun
from resnets.cli import main

# 4 identities of the digits, a tenth of their training images (58), batch 4 x 2 images.
TINY = ["--classes", "0-3", "--model", "resnet20", "--epochs", "2", "--batch-size", "8",
        "--device", "cpu", "data.train_fraction=0.1", "eval_batch_size=64",
        "deterministic=true", "optim.lr=0.02"]


@pytest.fixture(scope="module")
def arcface_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("metric")
    assert main(["metric", "train", "--loss", "arcface", "--dim", "16", "--bn-neck", *TINY,
                 "--out", str(out), "--run-name", "arc"]) == 0
    return out / "arc"


@pytest.fixture(scope="module")
def lfw(tmp_path_factory):
    dest = tmp_path_factory.mktemp("lfw") / "digits"
    assert main(["metric", "pairs", str(dest), "--classes", "6-9", "--folds", "10",
                 "--per-fold", "6", "--per-identity", "8", "--seed", "1"]) == 0
    return dest


def test_a_run_writes_its_metrics_and_config(arcface_run):
    config = json.loads((arcface_run / "config.json").read_text())
    assert config["task"] == "metric" and config["data"]["classes"] == "0-3"
    assert config["metric"]["dim"] == 16 and config["metric"]["bn_neck"] is True
    rows = [json.loads(r) for r in (arcface_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0 <= r["test_recall1"] <= 1 and 0 < r["test_map"] <= 1 for r in rows)
    state = torch.load(arcface_run / "last.pt", weights_only=True)
    assert state["classes"] == ["0", "1", "2", "3"]
    assert state["model"]["head.weight"].shape == (4, 16)  # one vector per identity


@pytest.mark.parametrize("loss", ["triplet", "supcon", "softmax"])
def test_interrupted_and_resumed_run_ends_bitwise_identical(loss, tmp_path, monkeypatch,
                                                            capsys):
    argv = ["metric", "train", "--loss", loss, *TINY, "--out", str(tmp_path)]
    assert main([*argv, "--run-name", "straight"]) == 0
    resume = interrupt([*argv, "--run-name", "broken"], monkeypatch, capsys, step=10)
    assert resume[:3] == ["resnets", "metric", "train"]  # 7 steps an epoch: mid-epoch 2
    assert main(resume[1:]) == 0
    assert same_weights(tmp_path / "straight", tmp_path / "broken")
    strip = [{k: v for k, v in json.loads(r).items() if k != "images_per_second"}
             for r in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    again = [{k: v for k, v in json.loads(r).items() if k != "images_per_second"}
             for r in (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()]
    assert strip == again


def test_two_processes_take_the_steps_of_one(tmp_path):
    """torchrun with Gloo: GroupNorm and a per-sample loss make two processes with 4 images
    each take one process's steps on the global batch of 8."""
    argv = ["--loss", "cosface", *TINY, "model.norm=group", "schedule.name=constant",
            "data.augment=none",  # each process draws its own shifts
            "--out", str(tmp_path)]
    assert main(["metric", "train", *argv, "--run-name", "one"]) == 0
    proc = torchrun(2, "-m", "resnets.cli", "metric", "train", *argv, "--run-name", "two",
                    timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (torch.load(tmp_path / n / "last.pt", weights_only=True)["model"]
            for n in ("one", "two"))
    assert max_difference(a, b) < 1e-4


def test_print_config_fed_back_gives_the_same_config(tmp_path, capsys):
    argv = ["metric", "train", "--loss", "triplet", "--mining", "semi_hard", *TINY,
            "--out", str(tmp_path), "--run-name", "printed"]
    assert main([*argv, "--print-config"]) == 0
    (tmp_path / "printed.json").write_text(capsys.readouterr().out)
    assert main(["metric", "train", "--config", str(tmp_path / "printed.json")]) == 0
    written = json.loads((tmp_path / "printed" / "config.json").read_text())
    assert written == json.loads((tmp_path / "printed.json").read_text())
    assert written["metric"]["mining"] == "semi_hard"


@pytest.mark.parametrize("args, message", [
    (["--loss", "arcfce"], "metric.loss must be one of"),
    (["--dataset", "text"], "metric learning reads digits, synthetic, cifar10, cifar100 or"),
    (["--dataset", "folder", "--loss", "triplet"], "image folders do not give yet"),
    (["--classes", "0-99"], "outside the 10 classes"),
    (["--loss", "triplet", "--batch-size", "9", "--k", "2"], "is not P x metric.k=2"),
    (["data.mixup_alpha=0.2"], "mixup and cutmix mix identities"),
])
def test_bad_settings_are_one_line(args, message, tmp_path, capsys):
    code = main(["metric", "train", *TINY, *args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # refused before a run directory or any data


def test_pairs_file_is_lfw_format_and_deterministic(lfw, tmp_path):
    lines = (lfw / "pairs.txt").read_text().splitlines()
    assert lines[0] == "10 6" and len(lines) == 1 + 10 * 12
    assert all(len(line.split()) == 3 for line in lines[1:7])  # fold 1: matched first
    assert all(len(line.split()) == 4 for line in lines[7:13])
    assert sorted(p.name for p in (lfw / "7").iterdir()) == [f"7_{i:04d}.png"
                                                             for i in range(1, 9)]
    again = tmp_path / "again"
    assert main(["metric", "pairs", str(again), "--classes", "6-9", "--folds", "10",
                 "--per-fold", "6", "--per-identity", "8", "--seed", "1"]) == 0
    assert (again / "pairs.txt").read_text() == (lfw / "pairs.txt").read_text()
    assert (again / "9" / "9_0003.png").read_bytes() == (lfw / "9" / "9_0003.png").read_bytes()


def test_verify_end_to_end(arcface_run, lfw, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["verify", str(lfw), "--checkpoint", str(arcface_run), "--out", str(out),
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "verify.json").read_text())
    assert report["pairs"] == 120 and report["folds"] == 10
    assert len(report["fold_accuracies"]) == 10
    assert report["accuracy"] == pytest.approx(sum(report["fold_accuracies"]) / 10)
    assert report["gallery"] == 4 and report["probes"] == 28  # 4 identities x (1 + 7)
    assert 0 <= report["rank1"] <= 1 and 0 < report["map"] <= 1
    assert "10-fold accuracy" in printed and "rank-1" in printed
    roc = (out / "roc.csv").read_text().splitlines()
    assert roc[0] == "threshold,far,tar" and roc[-1].endswith(",1.0,1.0")
    assert (out / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_verify_a_classifier_by_its_pooled_features(lfw, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--recipe", "synthetic-smoke", "--epochs", "1", "--device", "cpu",
                 "data.dataset=digits", "data.train_fraction=0.05", "batch_size=16",
                 "--out", str(out), "--name", "clf"]) == 0
    capsys.readouterr()
    assert main(["verify", str(lfw), "--checkpoint", str(out / "clf"), "--device",
                 "cpu"]) == 0
    assert json.loads((out / "clf" / "verify-digits" / "verify.json").read_text())["pairs"] == 120


def test_verify_a_registry_model_with_a_weights_file(lfw, tmp_path, capsys):
    """--model NAME --weights FILE: the pairs are scored by cosine of that model's pooled
    features of the ImageNet evaluation crop, as computed here by hand."""
    from resnets import data as D
    from resnets.metric.lfw import read_pairs
    from resnets.metric.protocol import kfold_accuracy
    from resnets.models import create_model
    from resnets.weights import load_weights, save_weights

    torch.manual_seed(3)
    weights = save_weights(create_model("resnet20"), tmp_path / "r20.safetensors")
    out = tmp_path / "report"
    assert main(["verify", str(lfw), "--model", "resnet20", "--weights", str(weights),
                 "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "verify.json").read_text())
    assert report["model"] == "resnet20" and report["checkpoint"] is None
    model = create_model("resnet20")
    load_weights(model, weights)
    crop = D.imagenet_eval_transform(32)
    pairs = read_pairs(str(lfw))
    with torch.no_grad():
        def unit(path):
            x = crop(D.decode_image(path))[None]
            return F.normalize(model.eval().forward_head(model.forward_features(x),
                                                         pre_logits=True))[0]
        scores = torch.stack([unit(p.first).double() @ unit(p.second).double()
                              for p in pairs])
    folds = kfold_accuracy(scores, torch.tensor([p.same for p in pairs]),
                           torch.tensor([p.fold for p in pairs]))
    assert report["accuracy"] == pytest.approx(folds.mean, abs=1e-9)
    assert report["fold_thresholds"] == pytest.approx(folds.thresholds, abs=1e-5)


def test_verify_needs_a_checkpoint_or_a_model(lfw, tmp_path, capsys):
    assert main(["verify", str(lfw), "--device", "cpu"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["verify", str(lfw), "--model", "resnet20", "--weights",
                 str(tmp_path / "missing.pt"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "missing.pt" in err and err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_an_image_folder_trains_on_the_chosen_identities(tmp_path, capsys):
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for c, name in enumerate(("ann", "bob", "cy")):
            (tmp_path / "img" / split / name).mkdir(parents=True)
            for i in range(4):
                pixels = (torch.randint(0, 60, (12, 12, 3), generator=gen) + 90 * c)
                Image.fromarray(pixels.to(torch.uint8).numpy()).save(
                    tmp_path / "img" / split / name / f"{i}.png")
    assert main(["metric", "train", "--dataset", "folder", "--root", str(tmp_path / "img"),
                 "--classes", "0,2", "--loss", "cosface", "--epochs", "1", "--batch-size",
                 "4", "--device", "cpu", "data.image_size=16", "data.workers=0",
                 "--out", str(tmp_path / "runs"), "--run-name", "f"]) == 0
    state = torch.load(tmp_path / "runs" / "f" / "last.pt", weights_only=True)
    assert state["classes"] == ["ann", "cy"] and state["step"] == 2  # 8 images / batch 4
    assert state["model"]["head.weight"].shape[0] == 2
    row = json.loads((tmp_path / "runs" / "f" / "metrics.jsonl").read_text())
    assert 0 <= row["test_recall1"] <= 1



def test_the_neck_recipes_give_both_losses_the_same_backbone_head_and_epochs(capsys):
    """digits-arcface-neck and its softmax baseline (docs/representation.md) differ only in
    the loss (and ArcFace's margin 0.3, which softmax does not read)."""
    from dense_training import assert_recipes, printed

    neck = {"model.name": "resnet20", "epochs": 10, "data.classes": "0-5",
            "data.augment": "none", "metric.dim": 64, "metric.bn_neck": True}
    assert_recipes(["metric", "train"], {
        "digits-arcface-neck": {**neck, "metric.loss": "arcface", "metric.margin": 0.3,
                                "metric.scale": 64.0},
        "digits-softmax-neck": {**neck, "metric.loss": "softmax"}}, capsys)
    arc, soft = (printed(["metric", "train", "--recipe", name], capsys)
                 for name in ("digits-arcface-neck", "digits-softmax-neck"))
    for section in ("model", "data", "optim", "schedule"):
        assert arc[section] == soft[section], section
    assert arc["epochs"] == soft["epochs"] and arc["batch_size"] == soft["batch_size"]
    assert {k: v for k, v in arc["metric"].items() if k not in ("loss", "margin")} == \
        {k: v for k, v in soft["metric"].items() if k not in ("loss", "margin")}
