"""Quantization-aware training (quant.qat) as an engine option: an interrupted QAT run
resumes bit for bit, and its config round-trips through --print-config."""

from __future__ import annotations

import pytest
import torch

from resnets.train.checkpoint import CheckpointManager
from resnets.train.context import StopAfterStep
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

pytest.importorskip("torchao")

QAT = {"model.name": "cifar_resnet", "model.depth": "8", "data.synthetic_size": "48",
       "data.resize": "16", "data.augment": "cifar", "batch_size": "16",
       "eval_batch_size": "32", "epochs": "2", "device": "cpu", "deterministic": "true",
       "quant.qat": "true", "optim.lr": "0.01"}


@pytest.mark.slow  # three trainings of an exported graph: half a minute on two busy cores
def test_an_interrupted_qat_run_resumes_bitwise_identical(tmp_path):
    def config(name):
        return recipe_config("synthetic-smoke", {**QAT, "out_dir": str(tmp_path),
                                                 "run_name": name})

    train(config("straight"))
    with pytest.raises(SystemExit):
        train(config("broken"), hooks=[StopAfterStep(3)])
    train(config("broken"), resume_dir=tmp_path / "broken")
    a = CheckpointManager(tmp_path / "straight").load_latest()["model"]
    b = CheckpointManager(tmp_path / "broken").load_latest()["model"]
    assert a.keys() == b.keys() and any("activation_post_process" in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_qat_config_round_trips_through_print_config(tmp_path, capsys):
    import json

    from resnets.cli import main

    argv = ["train", "--recipe", "synthetic-smoke", "quant.qat=true", "--print-config"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["quant"] == {"qat": True}
    path = tmp_path / "c.json"
    path.write_text(printed)
    assert main(["train", "--config", str(path), "--print-config"]) == 0
    assert capsys.readouterr().out == printed
