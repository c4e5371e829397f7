"""Checks that `resnets detect train` and `resnets segment train` share: both train through
the engine, so each must resume bit for bit, run under torchrun, read back its printed
configuration, and keep its old flags."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from launching import KeepWeights, interrupt, max_difference, same_weights, torchrun
from resnets.cli import main
from resnets.train import distributed

TOLERANCE = 1e-5
# The old flags of both train commands that set engine (and data) settings, each with the
# setting it sets: (flags, dotted key, value).
ENGINE_FLAG_CASES = [
    (["--steps", "7"], "iterations", 7), (["--batch-size", "8"], "batch_size", 8),
    (["--optimizer", "adamw"], "optim.name", "adamw"), (["--lr", "0.5"], "optim.lr", 0.5),
    (["--momentum", "0.8"], "optim.momentum", 0.8),
    (["--weight-decay", "0.001"], "optim.weight_decay", 0.001),
    (["--warmup-iters", "3"], "schedule.warmup_iters", 3),
    (["--clip-grad", "2"], "optim.grad_clip", 2.0), (["--workers", "1"], "data.workers", 1),
    (["--seed", "3"], "seed", 3), (["--device", "cpu"], "device", "cpu"),
    (["--out-dir", "elsewhere"], "out_dir", "elsewhere"), (["--run-name", "n"], "run_name", "n"),
    (["--skip-bad"], "data.skip_bad", True),
]


def rows(run):
    """metrics.jsonl without the throughput (a time)."""
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_second"}
            for line in lines]


def printed(argv, capsys) -> dict:
    """The configuration ``resnets ARGV --print-config`` prints."""
    capsys.readouterr()
    assert main([*argv, "--print-config"]) == 0
    return json.loads(capsys.readouterr().out)


def value(config: dict, key: str):
    section, _, name = key.partition(".")
    return config[section][name] if name else config[section]


def assert_resumes_bit_for_bit(argv, finished, out, monkeypatch, capsys, step, extra=()):
    """``resnets ARGV`` stopped after ``step`` and resumed with the command it printed (and
    ``extra``) ends with the weights and the metrics of the uninterrupted run ``finished``."""
    command = interrupt([*argv, "--out-dir", str(out), "--run-name", "cut"], monkeypatch,
                        capsys, step)
    assert command[:3] == ["resnets", *argv[:2]] and command[3:] == ["--resume",
                                                                       str(out / "cut")]
    assert torch.load(out / "cut/last.pt", weights_only=True)["step"] == step
    assert main([*command[1:], *extra]) == 0
    assert same_weights(out / "cut", finished) and rows(out / "cut") == rows(finished)


def assert_print_config_round_trips(argv, out, capsys):
    """--print-config (as YAML too) fed to --config trains a run whose config.json is what
    was printed."""
    first = printed([*argv, "--out-dir", str(out), "--run-name", "again"], capsys)
    (out / "printed.json").write_text(json.dumps(first))
    assert printed([argv[0], argv[1], "--config", str(out / "printed.json")], capsys) == first
    assert main([argv[0], argv[1], "--config", str(out / "printed.json"), "--print-config",
                 "--format", "yaml"]) == 0
    (out / "printed.yaml").write_text(capsys.readouterr().out)
    assert main([argv[0], argv[1], "--config", str(out / "printed.yaml")]) == 0
    assert json.loads((out / "again/config.json").read_text()) == first


def assert_flags_set(argv, cases, capsys):
    """Each old flag (with its value) sets its dotted setting to ``expected``."""
    for flags, key, expected in cases:
        assert value(printed([*argv, *flags], capsys), key) == expected, flags


def assert_recipes(argv, recipes, capsys):
    """``--recipe NAME`` resolves each recipe: its settings, name and source."""
    for name, settings in recipes.items():
        config = printed([*argv, "--recipe", name], capsys)
        assert config["recipe"] == name and config["source"], name
        assert {key: value(config, key) for key in settings} == settings, name
    assert main([*argv, "--recipe", "cifar10-resnet20"]) == 2  # another task's
    assert "run it with `resnets train --recipe cifar10-resnet20`" in capsys.readouterr().err


def assert_renamed(argv, renamed, capsys):
    for flag, message in renamed:
        assert main([*argv, flag, "3"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{flag} is gone: {message}" in err, err


def run_keeping(argv, monkeypatch, step):
    """``resnets ARGV`` in this process; returns the weights after ``step``."""
    real_run, keep = distributed.run, KeepWeights(step)

    def run_keeping_weights(cfg, resume_dir=None, hooks=(), env=None):
        return real_run(cfg, resume_dir, [*hooks, keep], env)

    monkeypatch.setattr(distributed, "run", run_keeping_weights)
    assert main(argv) == 0
    monkeypatch.setattr(distributed, "run", real_run)
    return keep.weights


def two_processes(argv, out):
    """``resnets ARGV`` under torchrun with two processes (Gloo); the run directory."""
    proc = torchrun(2, "-m", "resnets.cli", *argv, "--out-dir", str(out), "--run-name", "two",
                    timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in out.iterdir()] == ["two"]  # rank 0 alone writes
    assert proc.stdout.count("run_dir") == 1  # ... and prints the summary
    return out / "two"


def weights(run):
    return torch.load(Path(run) / "last.pt", weights_only=True)["model"]


__all__ = ["ENGINE_FLAG_CASES", "TOLERANCE", "assert_flags_set",
           "assert_print_config_round_trips", "assert_recipes", "assert_renamed",
           "assert_resumes_bit_for_bit", "max_difference", "printed", "rows", "run_keeping",
           "two_processes", "value", "weights"]
