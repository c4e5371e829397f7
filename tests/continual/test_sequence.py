"""`resnets continual` as a sequence of engine runs: resume, torchrun, flags and recipes."""

import json
import shlex

import pytest
import torch

from launching import torchrun
from resnets.cli import main
from resnets.continual import cli as continual_cli
from resnets.continual.config import ContinualConfig
from resnets.train.config import field_types
from resnets.train.context import Hook

TINY = ["--data", "synthetic", "--synthetic-size", "48", "--resize", "8", "--tasks", "2",
        "--batch-size", "8", "--device", "cpu", "--fisher-samples", "8", "--memory", "6",
        "--epochs", "2", "deterministic=true"]


class StopInExperience(Hook):
    """Ask for a stop after ``step`` of experience ``number``, as Ctrl-C does."""

    def __init__(self, number, step):
        self.name, self.step = f"experience-{number}", step

    def on_step_end(self, ctx):
        if ctx.run_dir.name == self.name and ctx.step == self.step:
            ctx.stop_requested = True


def interrupted(argv, monkeypatch, capsys, number, step):
    """Run ``resnets continual ARGV`` stopped inside experience ``number``; the resume
    command it printed."""
    real = continual_cli.run_continual

    def stopping(cfg, resume_dir=None, **options):
        monkeypatch.setattr(continual_cli, "run_continual", real)
        return real(cfg, resume_dir, hooks=[StopInExperience(number, step)], **options)

    monkeypatch.setattr(continual_cli, "run_continual", stopping)
    with pytest.raises(SystemExit) as stopped:
        main(["continual", *argv])
    assert stopped.value.code == 130
    return shlex.split(capsys.readouterr().out.split("Resume with:\n")[1].strip())


def final_weights(run_dir):
    from safetensors.torch import load_file

    return load_file(run_dir / "model.safetensors")


@pytest.mark.parametrize("strategy, number, step, crashed", [
    ("replay", 2, 3, False), ("ewc", 2, 1, False), ("lwf", 1, 3, False),
    ("replay", 2, 1, True)])
def test_an_interrupted_sequence_resumes_bit_for_bit(strategy, number, step, crashed, tmp_path,
                                                     monkeypatch, capsys):
    argv = [*TINY, "--strategy", strategy, "--out", str(tmp_path)]
    assert main(["continual", *argv, "--run-name", "whole"]) == 0
    command = interrupted([*argv, "--run-name", "parts"], monkeypatch, capsys, number, step)
    parts = tmp_path / "parts"
    stopped = parts / f"experience-{number}"
    assert command == ["resnets", "continual", "--resume", str(parts)]
    assert not (parts / "summary.json").exists() and (stopped / "last.pt").exists()
    if crashed:  # killed before its first checkpoint: the experience starts again
        for name in ("last.pt", "last.pt.sha256", "last.prev.pt", "last.prev.pt.sha256"):
            (stopped / name).unlink(missing_ok=True)
    assert main(command[1:]) == 0
    resumed = f"resumed {stopped} at step {step}" in capsys.readouterr().out
    assert resumed != crashed
    whole = tmp_path / "whole"
    for name in ("accuracy_matrix.csv", "accuracy_matrix.json"):
        assert (parts / name).read_text() == (whole / name).read_text()
    a, b = final_weights(whole), final_weights(parts)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((parts / "summary.json").read_text())
    assert summary["strategy_state"] == json.loads(
        (whole / "summary.json").read_text())["strategy_state"]


def test_a_finished_sequence_is_not_resumed_and_a_resume_changes_only_what_it_may(
        tmp_path, capsys):
    assert main(["continual", *TINY, "--strategy", "replay", "--out", str(tmp_path),
                 "--run-name", "done"]) == 0
    capsys.readouterr()
    run = str(tmp_path / "done")
    assert main(["continual", "--resume", run]) == 2
    assert "already trained its 2 experiences" in capsys.readouterr().err
    assert main(["continual", "--resume", run, "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "drop optim.lr=0.1" in err
    assert main(["continual", "--resume", f"{run}/experience-2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"resnets continual --resume {run}" in err
    assert not list((tmp_path / "done" / "experience-2").glob("experience-*"))


def test_two_processes_run_the_whole_sequence(tmp_path):
    """torchrun with Gloo: both processes train each experience in one process group; the
    replay memory (drawn from the data and the seed alone) is the one of a lone process."""
    argv = [*TINY, "--strategy", "replay", "--out", str(tmp_path)]
    assert main(["continual", *argv, "--run-name", "one"]) == 0
    proc = torchrun(2, "-m", "resnets.cli", "continual", *argv, "--run-name", "two",
                    timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1 and proc.stdout.count("== replay") == 1
    two, one = tmp_path / "two", tmp_path / "one"
    matrix = json.loads((two / "accuracy_matrix.json").read_text())["matrix"]
    assert len(matrix) == 2 and all(0 <= a <= 1 for row in matrix for a in row)
    for k in (1, 2):
        rows = [json.loads(line) for line in
                (two / f"experience-{k}" / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == [1, 2]
        state = [torch.load(d / f"experience-{k}" / "strategy.pt", weights_only=True)
                 for d in (one, two)]
        assert torch.equal(state[0]["images"], state[1]["images"])
        assert torch.equal(state[0]["labels"], state[1]["labels"])
    summary = json.loads((two / "summary.json").read_text())
    assert summary["strategy_state"]["memory_size"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]


OLD_FLAGS = [("--strategy", "ewc", "continual.strategy", "ewc"),
             ("--data", "synthetic", "continual.data", "synthetic"),
             ("--root", "cifar-files", "continual.root", "cifar-files"),
             ("--tasks", "3", "continual.tasks", 3),
             ("--class-order-seed", "4", "continual.class_order_seed", 4),
             ("--model", "resnet32", "continual.model", "resnet32"),
             ("--memory", "50", "continual.memory", 50),
             ("--memory-policy", "reservoir", "continual.memory_policy", "reservoir"),
             ("--ewc-lambda", "10", "continual.ewc_lambda", 10.0),
             ("--fisher-samples", "7", "continual.fisher_samples", 7),
             ("--lwf-alpha", "0.5", "continual.lwf_alpha", 0.5),
             ("--lwf-temperature", "3", "continual.lwf_temperature", 3.0),
             ("--synthetic-size", "64", "continual.synthetic_size", 64),
             ("--resize", "12", "continual.resize", 12),
             ("--epochs", "3", "epochs", 3), ("--batch-size", "16", "batch_size", 16),
             ("--lr", "0.2", "optim.lr", 0.2), ("--momentum", "0.5", "optim.momentum", 0.5),
             ("--weight-decay", "0.001", "optim.weight_decay", 0.001),
             ("--eval-batch-size", "64", "eval_batch_size", 64), ("--seed", "5", "seed", 5),
             ("--device", "cpu", "device", "cpu"), ("--out", "elsewhere", "out_dir",
                                                    "elsewhere"),
             ("--run-name", "mine", "run_name", "mine"), ("--name", "mine", "run_name", "mine")]


def setting(cfg, key):
    section, _, name = key.partition(".")
    return cfg[section][name] if name else cfg[section]


@pytest.mark.parametrize("flag, text, key, value", OLD_FLAGS, ids=[f[0] for f in OLD_FLAGS])
def test_every_old_option_sets_its_key(flag, text, key, value, capsys):
    assert main(["continual", flag, text, "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert setting(cfg, key) == value != setting(_defaults(), key)


def _defaults():
    from resnets.train.config import to_dict

    return to_dict(ContinualConfig())


def test_no_augment_and_the_flags_cover_the_configuration(capsys):
    assert main(["continual", "--no-augment", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["continual"]["augment"] is False
    keys = field_types(ContinualConfig)
    assert set(continual_cli.FLAGS.values()) <= set(keys)
    assert {k for _, _, k, _ in OLD_FLAGS} == set(continual_cli.FLAGS.values())
    # The old defaults hold: lr 0.05, weight decay 5e-4, cosine per experience, NCHW.
    cfg = ContinualConfig()
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.schedule.name, cfg.epochs,
            cfg.batch_size, cfg.channels_last) == (0.05, 5e-4, "cosine", 10, 32, False)


def test_recipes_of_the_continual_task(tmp_path, capsys):
    assert main(["continual", "--recipe", "split-cifar10-replay", "--root", str(tmp_path),
                 "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["recipe"], cfg["continual"]["data"], cfg["continual"]["strategy"],
            cfg["epochs"]) == ("split-cifar10-replay", "cifar10", "replay", 50)
    assert "Buzzega" in cfg["source"]
    assert main(["continual", "--recipe", "continual-digits-replay", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["continual"]["strategy"] == "replay"
    assert main(["continual", "--recipe", "cifar10-resnet20", "--print-config"]) == 2
    assert "run it with `resnets train --recipe cifar10-resnet20`" in capsys.readouterr().err


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused():
    from resnets.continual.task import ExperienceTask, Sequence, build_strategy
    from resnets.errors import ResnetsError
    from resnets.train.config import apply_overrides

    cfg = apply_overrides(ContinualConfig(), {"continual.data": "synthetic",
                                              "continual.synthetic_size": 48,
                                              "continual.tasks": 2, "batch_size": 7})
    task = ExperienceTask(0, Sequence.load(cfg), build_strategy(cfg), None)
    with pytest.raises(ResnetsError, match="batch_size=7 does not split evenly over 2"):
        task.build_data(cfg, torch.device("cpu"), 0, 2)
    assert len(task.build_data(cfg, torch.device("cpu"), 0, 1).train) == len(task.split.train) // 7
