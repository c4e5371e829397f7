"""Repeated augmentation and a policy under torchrun (Gloo): two processes, each with its
disjoint share of every global batch, take the steps one process takes. (A minute on a busy
machine, so marked slow: tests/data/test_sampling.py checks the shares without torchrun.)"""

from __future__ import annotations

import pytest
import torch

from launching import max_difference, torchrun
from resnets.train.config import parse_overrides
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

# GroupNorm: per-image statistics, so a batch split over processes gives the same gradient.
SETTINGS = ["data.synthetic_size=64", "batch_size=16", "eval_batch_size=8", "model.norm=group",
            "schedule.name=constant", "optim.lr=0.002", "deterministic=true",
            "data.policy=trivialaugment", "data.erasing=0.25", "data.repeated_aug=2"]
TOLERANCE = 1e-5


def one_process(out, *extra):
    train(recipe_config("synthetic-smoke", parse_overrides(
        [*SETTINGS, *extra, "device=cpu", "epochs=1", f"out_dir={out}", "run_name=run"])))
    return torch.load(out / "run" / "last.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_two_processes_with_repeated_augmentation_take_the_steps_of_one(tmp_path):
    alone = one_process(tmp_path / "one")
    proc = torchrun(2, "-m", "resnets.cli", "train", "--recipe", "synthetic-smoke", "--device",
                    "cpu", "--epochs", "1", *SETTINGS, "--out", str(tmp_path / "two"),
                    "--name", "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    shared = torch.load(tmp_path / "two" / "run" / "last.pt", weights_only=True)["model"]
    assert max_difference(alone, shared) < TOLERANCE
    # Without the copies the steps differ by far more: the comparison has teeth.
    assert max_difference(alone, one_process(tmp_path / "plain", "data.repeated_aug=1")) > 1e-3
