"""`resnets experiment overfitting` end to end on tiny synthetic data."""

import csv
import json

import pytest
import torch

from resnets.cli import main
from resnets.data import InMemoryLoader
from resnets.experiments import overfitting
from resnets.experiments.report import percent
from resnets.experiments.settings import ExperimentConfig, parse_budget
from resnets.train.checkpoint import CheckpointManager
from resnets.train.config import TrainConfig, apply_overrides
from resnets.train.evaluate import evaluate
from resnets.train.pipeline import build_pipeline
from resnets.train.setup import build_model

TINY = ["--data", "synthetic", "--device", "cpu", "--budget", "2", "--depths", "8",
        "data.synthetic_size=80", "data.resize=8", "batch_size=4", "eval_batch_size=64"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    out = tmp_path_factory.mktemp("overfitting") / "exp"
    assert main(["experiment", "overfitting", *TINY, "--out", str(out)]) == 0
    return out


def read_rows(out):
    with open(out / "final_errors.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_each_option_adds_one_regulariser_to_the_bare_baseline(experiment):
    settings = {}
    for option in overfitting.OPTIONS:
        config = json.loads((experiment / "runs" / f"{option}8-seed0" / "config.json")
                            .read_text())
        assert config["data"]["train_fraction"] == 0.1 and config["data"]["augment"] == "none"
        settings[option] = (config["model"]["drop_rate"], config["optim"]["weight_decay"],
                            config["optim"]["label_smoothing"], config["data"]["mixup_alpha"],
                            config["data"]["cutmix_alpha"])
    assert settings == {"baseline": (0, 0, 0, 0, 0), "dropout": (0.5, 0, 0, 0, 0),
                        "weight-decay": (0, 5e-4, 0, 0, 0),
                        "label-smoothing": (0, 0, 0.1, 0, 0), "mixup": (0, 0, 0, 1.0, 0),
                        "cutmix": (0, 0, 0, 0, 1.0)}


def test_training_error_is_the_final_network_on_the_plain_training_images(experiment):
    run_dir = experiment / "runs" / "cutmix8-seed0"
    cfg = apply_overrides(TrainConfig(), {"data.dataset": "synthetic",
                                          "data.synthetic_size": "80", "data.resize": "8",
                                          "data.train_fraction": "0.1", "batch_size": "4"})
    pipe = build_pipeline(cfg, torch.device("cpu"))
    state = CheckpointManager(run_dir).load_latest()
    config = json.loads((run_dir / "config.json").read_text())
    net = build_model(apply_overrides(TrainConfig(), {"model.name": "cifar_resnet",
                                                      "model.depth": "8"}),
                      len(pipe.classes), pipe.in_chans, torch.device("cpu"))
    net.load_state_dict(state["model"])
    # 10% of 8 images per class rounds to 1: one image of each of the 10 classes
    assert config["model"]["depth"] == 8 and pipe.train_size == 10
    batches = InMemoryLoader(pipe.train.dataset, 64, shuffle=False, drop_last=False,
                             mean=pipe.mean, std=pipe.std)  # no augmentation, no mixing
    plain = evaluate(net, batches, 10, torch.device("cpu"))
    row = next(r for r in read_rows(experiment) if r["option"] == "cutmix")
    assert float(row["train_error"]) == pytest.approx(plain["top1_error"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["train_images"] == 10
    assert float(row["test_error"]) == pytest.approx(summary["test_error"])
    assert float(row["gap"]) == pytest.approx(summary["test_error"] - plain["top1_error"])


def test_report_table_and_figure(experiment):
    rows = read_rows(experiment)
    assert [r["option"] for r in rows] == list(overfitting.OPTIONS)
    report = (experiment / "report.md").read_text()
    for row in rows:
        assert (f"| {row['option']} | 8 | {percent(float(row['gap']))} | "
                f"{percent(float(row['train_error']))} | {percent(float(row['test_error']))} "
                "| 1 |") in report
    assert "(overfitting.png)" in report
    assert (experiment / "overfitting.png").read_bytes()[:4] == b"\x89PNG"


def test_folder_data_is_refused_before_any_run():
    with pytest.raises(Exception, match="in-memory data"):
        overfitting.members(ExperimentConfig("overfitting", data="folder"), parse_budget("2"))
