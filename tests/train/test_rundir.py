"""Run directories (one per run, locked), what a resume keeps, and guarded writes."""

import json
import shlex
import subprocess
import sys

import pytest

from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.train.checkpoint import CheckpointManager, sha256_file
from resnets.train.config import apply_overrides
from resnets.train.context import StopAfterStep
from resnets.train.engine import Hook, train
from resnets.train.recipes import recipe_config
from resnets.train.rundir import create_run_dir, hold_run_dir, lock_run_dir
from resnets.train.setup import load_run_config

# 48 training images in batches of 16: 3 steps per epoch.
TINY = {"data.synthetic_size": "48", "batch_size": "16", "eval_batch_size": "64",
        "epochs": "2", "device": "cpu", "deterministic": "true", "schedule.name": "cosine"}
CLI = ["--recipe", "synthetic-smoke", "--device", "cpu", "data.synthetic_size=48",
       "batch_size=16", "eval_batch_size=64"]


def tiny(out, **extra):
    return recipe_config("synthetic-smoke", {**TINY, "out_dir": str(out),
                                             **{k: str(v) for k, v in extra.items()}})


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch run, ``runs/done``."""
    out = tmp_path_factory.mktemp("runs")
    train(tiny(out, run_name="done"))
    return out / "done"


# ---- run directories ----

def test_a_reused_name_is_refused_and_the_old_run_kept(finished, capsys):
    before = {p.name: sha256_file(p) for p in finished.iterdir() if p.is_file()}
    argv = ["train", *CLI, "--epochs", "1", "--out", str(finished.parent), "--name", "done"]
    assert main(argv) == 2
    one_line_error(capsys, "already exists", f"--resume {finished}", "another --name")
    after = {p.name: sha256_file(p) for p in finished.iterdir() if p.is_file()}
    assert after == before


@pytest.mark.parametrize("name", [".", "..", "a/b", "../up", "nul\0byte", " "])
def test_a_name_must_be_one_folder_name(tmp_path, capsys, name):
    assert main(["train", *CLI, "--out", str(tmp_path), "--name", name]) == 2
    one_line_error(capsys, "is not a folder name")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_generated_names_take_a_free_suffix_and_an_empty_folder_is_used(tmp_path):
    first = create_run_dir(tmp_path, "", "smoke")
    (first / "config.json").write_text("{}")
    with hold_run_dir(first):
        pass
    second = create_run_dir(tmp_path, "", "smoke")
    (tmp_path / "smoke-3").mkdir()  # made by another run starting in the same second
    third = create_run_dir(tmp_path, "", "smoke")
    assert (first.name, second.name, third.name) == ("smoke", "smoke-2", "smoke-4")
    (tmp_path / "empty").mkdir()
    assert create_run_dir(tmp_path, "empty", "smoke") == tmp_path / "empty"


def test_of_two_runs_started_with_one_name_only_one_gets_it(tmp_path):
    # The first has made and locked the folder but written nothing yet.
    create_run_dir(tmp_path, "twice", "smoke")
    with pytest.raises(ResnetsError, match="in use by another run .pid"):
        create_run_dir(tmp_path, "twice", "smoke")


def test_a_locked_run_cannot_be_trained_or_resumed_into(finished):
    lock = lock_run_dir(finished)  # as another process running it would
    try:
        with pytest.raises(ResnetsError, match="in use by another run"):
            train(tiny(finished.parent, run_name="done", epochs=3), resume_dir=finished)
    finally:
        lock.release()


class CheckLock(Hook):
    """Records, mid-run, whether another process could lock the run directory."""

    def on_step_end(self, ctx):
        try:
            lock_run_dir(ctx.run_dir).release()
            self.free = True
        except ResnetsError:
            self.free = False


def test_the_lock_is_held_during_the_run_and_dropped_after_it_and_after_a_crash(tmp_path):
    hook = CheckLock()
    train(tiny(tmp_path, run_name="r", epochs=1), hooks=[hook])
    assert hook.free is False
    lock_run_dir(tmp_path / "r").release()  # free again once the run returned
    # A process that holds the lock as lock_run_dir takes it, and dies by kill -9.
    code = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('locked', flush=True); "
            "os.kill(os.getpid(), 9)")
    crashed = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r" / ".lock")],
                             capture_output=True, text=True, timeout=60)
    assert crashed.returncode == -9 and crashed.stdout == "locked\n"
    lock_run_dir(tmp_path / "r").release()  # the operating system dropped the crashed lock


# ---- resume ----

def test_settings_given_on_resume_are_kept_by_the_printed_resume_command(tmp_path, capsys):
    train(tiny(tmp_path, run_name="long", checkpoint_every=1))  # 2 epochs, 6 steps
    longer = apply_overrides(load_run_config(tmp_path / "long"), {"epochs": "4"})
    with pytest.raises(SystemExit):
        train(longer, resume_dir=tmp_path / "long", hooks=[StopAfterStep(8)])
    out = capsys.readouterr().out
    command = out.split("Resume with:\n")[1].strip()
    assert command.startswith("resnets train --resume ")
    assert main(shlex.split(command)[1:]) == 0
    summary = json.loads((tmp_path / "long" / "summary.json").read_text())
    assert (summary["steps"], summary["epochs"]) == (12, 4)
    assert load_run_config(tmp_path / "long").epochs == 4


@pytest.mark.parametrize("change, fragment", [
    ("batch_size=8", "drop batch_size=8 (only epochs, iterations, device"),
    ("schedule.name=step", "drop schedule.name=step"),
    ("epochs=1", "already took 6 of its 3 steps"),
    ("epochs=2", "already took 6 of its 6 steps; pass epochs=N or iterations=N"),
])
def test_resume_refuses_what_would_break_the_schedule(finished, capsys, change, fragment):
    config = (finished / "config.json").read_text()
    assert main(["train", "--resume", str(finished), change]) == 2
    one_line_error(capsys, fragment)
    assert (finished / "config.json").read_text() == config


def test_a_finished_run_is_refused_without_saying_it_resumed(finished, capsys):
    assert main(["train", "--resume", str(finished)]) == 2
    out, err = capsys.readouterr()
    assert "already took 6 of its 6 steps" in err and "resumed" not in out


# ---- guarded writes ----

def test_a_new_run_on_a_full_disk_fails_in_one_line_before_reading_data(full_disk, capsys):
    assert main(["train", *CLI, "--out", str(full_disk / "runs"), "--name", "x"]) == 2
    one_line_error(capsys, "no space left on device")
    assert not (full_disk / "runs" / "x" / "config.json").exists()


def test_evaluate_out_on_a_full_disk_fails_in_one_line(finished, full_disk, capsys):
    assert main(["evaluate", str(finished), "--out", str(full_disk / "report")]) == 2
    one_line_error(capsys, "no space left on device")


class FillDiskAt(Hook):
    def __init__(self, step, fill):
        self.step, self.fill = step, fill

    def on_step_end(self, ctx):
        if ctx.step == self.step:
            self.filler = self.fill(ctx.run_dir)


def test_a_disk_that_fills_mid_run_keeps_the_last_checkpoint_and_resumes(
        small_disk, fill_disk, capsys):
    run = small_disk / "r"
    fills = FillDiskAt(4, fill_disk)  # after the checkpoint of epoch 1 (step 3)
    with pytest.raises(ResnetsError, match="no space left on device"):
        train(tiny(small_disk, run_name="r"), hooks=[fills])
    assert CheckpointManager(run).load_latest()["step"] == 3
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 2  # still full: one line, not a traceback
    one_line_error(capsys, "no space left on device")
    fills.filler.unlink()
    assert main(["train", "--resume", str(run)]) == 0
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").open())] == [3, 6]


def test_resume_accepts_a_moved_data_set(finished, tmp_path, capsys):
    import shutil

    run, moved = tmp_path / "copy", tmp_path / "moved-data"
    shutil.copytree(finished, run)
    moved.mkdir()
    assert main(["train", "--resume", str(run), "--root", str(moved), "epochs=3"]) == 0
    assert load_run_config(run).data.root == str(moved)
