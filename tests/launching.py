"""Helpers for the tests that start training commands: under torchrun, or interrupted in
this process and resumed with the command the interruption printed."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnets.cli import main
from resnets.train import distributed
from resnets.train.checkpoint import CheckpointManager
from resnets.train.context import Hook, StopAfterStep


def environment():
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # the same arithmetic as in here
    return env


def torchrun_argv(nproc, *args, restarts=0, log_dir=None):
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(nproc), "--max-restarts", str(restarts),
            "--monitor-interval", "0.1"]
    if log_dir:
        argv += ["--log-dir", str(log_dir), "--redirects", "3"]
    return [*argv, *args]


def torchrun(nproc, *args, timeout=120, **options):
    return subprocess.run(torchrun_argv(nproc, *args, **options), capture_output=True,
                          text=True, timeout=timeout, env=environment())


def stop_next_run_after(monkeypatch, step: int) -> None:
    """The next run a command launches stops after ``step``, saving, as Ctrl-C does."""
    real_run = distributed.run

    def run_then_stop(cfg, resume_dir=None, hooks=(), env=None):
        monkeypatch.setattr(distributed, "run", real_run)
        return real_run(cfg, resume_dir, [*hooks, StopAfterStep(step)], env)

    monkeypatch.setattr(distributed, "run", run_then_stop)


def interrupt(argv, monkeypatch, capsys, step: int) -> list[str]:
    """Run ``resnets ARGV`` stopped after ``step``; the resume command it printed, split."""
    stop_next_run_after(monkeypatch, step)
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 130
    return shlex.split(capsys.readouterr().out.split("Resume with:\n")[1].strip())


def same_weights(run_a, run_b) -> bool:
    a, b = (torch.load(Path(r) / "last.pt", weights_only=True)["model"] for r in (run_a, run_b))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_members_match(out, ref, members, step: int) -> None:
    """The experiment in ``out`` left each member's latest checkpoint at ``step`` with the
    same weights as the uninterrupted one in ``ref``."""
    for member in members:
        got = CheckpointManager(Path(out) / "runs" / member).load_latest()
        want = CheckpointManager(Path(ref) / "runs" / member).load_latest()
        assert got["step"] == want["step"] == step, member
        for key, tensor in want["model"].items():
            assert torch.equal(got["model"][key], tensor), (member, key)


class KeepWeights(Hook):
    """Keeps a copy of the weights after a given step."""

    def __init__(self, step):
        self.step, self.weights = step, None

    def on_step_end(self, ctx):
        if ctx.step == self.step:
            self.weights = {k: v.clone() for k, v in ctx.model.state_dict().items()}


def max_difference(a, b):
    """The largest difference between two state dicts' floating-point tensors."""
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a
               if a[k].is_floating_point())
