"""`resnets pretrain` on the engine: bit-exact resume of SimCLR and BYOL, torchrun, configs,
kNN of a run, and its backbone as the start of a classification run."""

import json

import pytest
import torch

from launching import torchrun
from resnets.cli import main
from resnets.selfsup import task  # noqa: F401 (registers the task)
from resnets.selfsup.config import SelfSupConfig
from resnets.train.checkpoint import CheckpointManager
from resnets.train.config import apply_overrides, from_dict
from resnets.train.context import StopAfterStep
from resnets.train.engine import train
from resnets.train.recipes import recipe_config
from resnets.train.setup import build_model

TINY = {"data.dataset": "synthetic", "data.synthetic_size": "24", "batch_size": "8",
        "eval_batch_size": "16", "epochs": "2", "device": "cpu", "deterministic": "true",
        "ssl.proj_hidden": "16", "ssl.proj_dim": "8", "ssl.pred_hidden": "8",
        "ssl.knn_k": "5", "schedule.warmup_iters": "2", "eval_every": "1",
        "views.blur": "0.5", "views.solarize": "0.2"}
ARGV = [f"{k}={v}" for k, v in TINY.items()]


def tiny(tmp_path, method, name):
    return apply_overrides(SelfSupConfig(), {**TINY, "ssl.method": method,
                                             "out_dir": str(tmp_path), "run_name": name})


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_an_interrupted_run_resumes_bit_exactly(tmp_path, method):
    train(tiny(tmp_path, method, "straight"))
    broken = tiny(tmp_path, method, "broken")
    with pytest.raises(SystemExit):
        train(broken, hooks=[StopAfterStep(4)])  # mid-epoch 2 (3 steps an epoch)
    train(broken, resume_dir=tmp_path / "broken")
    a, b = (CheckpointManager(tmp_path / r).load_latest()["model"] for r in ("straight",
                                                                            "broken"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if method == "byol":  # the target network is checkpointed, moved by the momentum
        assert any(k.startswith("target.backbone.") for k in a)
        assert not torch.equal(a["target.backbone.conv1.weight"], a["backbone.conv1.weight"])
    rows = [[{k: v for k, v in json.loads(line).items() if k != "images_per_second"}
             for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
            for r in ("straight", "broken")]
    assert rows[0] == rows[1] and 0 <= rows[0][-1]["knn_top1"] <= 1


def test_two_processes_train_with_gloo(tmp_path):
    proc = torchrun(2, "-m", "resnets.cli", "pretrain", "train", *ARGV, "ssl.method=byol",
                    "--out", str(tmp_path), "--name", "two", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [3, 6]  # global batch 8 of 24 images
    assert json.loads(proc.stdout[proc.stdout.index("{\n"):])["method"] == "byol"


def test_print_config_fed_back_gives_the_same_config(tmp_path, capsys):
    argv = ["pretrain", "train", "--recipe", "byol-cifar10", "data.root=cifar", "--epochs", "3"]
    assert main([*argv, "--print-config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "c.json").write_text(printed)
    assert main(["pretrain", "train", "--config", str(tmp_path / "c.json"),
                 "--print-config"]) == 0
    assert capsys.readouterr().out == printed
    cfg = from_dict(json.loads(printed), cls=SelfSupConfig)
    assert (cfg.ssl.method, cfg.epochs, cfg.recipe) == ("byol", 3, "byol-cifar10")


def test_the_run_is_a_backbone_that_classification_and_knn_start_from(tmp_path, capsys):
    summary = train(tiny(tmp_path, "simclr", "ssl"))
    run = tmp_path / "ssl"
    state = CheckpointManager(run).load_latest()
    backbone = {k.removeprefix("backbone."): v for k, v in state["model"].items()
                if k.startswith("backbone.")}
    for source in (run, run / "last.pt"):  # a run directory or its checkpoint
        cfg = recipe_config("synthetic-smoke", {"model.name": "resnet20",
                                                "model.pretrained": str(source),
                                                "device": "cpu"})
        model = build_model(cfg, 10, 3, torch.device("cpu"))
        own = model.state_dict()
        assert all(torch.equal(own[k], v) for k, v in backbone.items())
        assert "fc.weight" in own and "fc.weight" not in backbone  # a new classifier
    assert main(["pretrain", "knn", str(run), "--dataset", "synthetic", "--k", "5",
                 "--synthetic-size", "24",
                 "--device", "cpu", "--out", str(tmp_path / "knn.json")]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "knn.json").read_text())["knn_top1"] == pytest.approx(
        summary["knn_top1"])


def test_a_classification_run_of_another_model_is_refused_in_one_line(tmp_path, capsys):
    train(tiny(tmp_path, "simclr", "ssl"))
    assert main(["pretrain", "knn", str(tmp_path / "ssl"), "--model", "resnet32",
                 "--dataset", "synthetic", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained resnet20, not resnet32" in err
