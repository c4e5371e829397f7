"""The training loop end to end on tiny synthetic data: run directory, resume, NaN guard."""

import json
import math
import shutil

import pytest
import torch

from resnets.errors import CheckpointError, ResnetsError
from resnets.train.checkpoint import CheckpointManager, save_checkpoint
from resnets.train.config import apply_overrides, from_dict
from resnets.train.setup import load_run_config
from resnets.train.context import StopAfterStep
from resnets.train.engine import Hook, TrainingDiverged, train
from resnets.train.recipes import recipe_config

TINY = {"data.synthetic_size": "48", "data.augment": "cifar", "batch_size": "16",
        "eval_batch_size": "64", "epochs": "3", "device": "cpu", "deterministic": "true",
        "model.drop_rate": "0.2", "optim.ema_decay": "0.9", "schedule.name": "cosine",
        "schedule.warmup_iters": "2", "optim.lr": "0.05"}


def tiny_config(tmp_path, **extra):
    overrides = {**TINY, "out_dir": str(tmp_path), **{k: str(v) for k, v in extra.items()}}
    return recipe_config("synthetic-smoke", overrides)


def final_weights(run_dir):
    return CheckpointManager(run_dir).load_latest()["model"]


def test_run_directory_holds_config_metrics_curves_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path, run_name="a", **{"data.val_size": 16})
    summary = train(cfg)
    run = tmp_path / "a"
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "curves.png", "last.pt",
                 "best.pt", "summary.json"):
        assert (run / name).is_file(), name
    assert from_dict(json.loads((run / "config.json").read_text())) == cfg
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["step"] for r in rows] == [2, 4, 6]  # 32 training images / batch 16
    for key in ("train_loss", "train_error", "val_error", "test_error", "test_top5", "lr",
                "images_per_second"):
        assert all(math.isfinite(r[key]) for r in rows), key
    assert summary["test_error"] == rows[-1]["test_error"]  # headline: the final epoch
    assert summary["best_val_error"] == min(r["val_error"] for r in rows)
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "test_error" in header and "train_loss" in header


def test_no_best_checkpoint_without_a_validation_split(tmp_path):
    train(tiny_config(tmp_path, run_name="b", epochs=1))
    assert (tmp_path / "b" / "last.pt").is_file()
    assert not (tmp_path / "b" / "best.pt").exists()  # never judged on the test split


def straight_and_resumed(tmp_path, stop_after=3, **extra):
    """A run straight through and the same run stopped after step ``stop_after`` and resumed:
    their final weights are bitwise identical (asserted); returns their run directories."""
    straight = tiny_config(tmp_path, run_name="straight", **extra)
    train(straight)
    broken = tiny_config(tmp_path, run_name="broken", **extra)
    with pytest.raises(SystemExit) as stop:
        train(broken, hooks=[StopAfterStep(stop_after)])
    assert stop.value.code == 130
    assert CheckpointManager(tmp_path / "broken").load_latest()["step"] == stop_after
    train(broken, resume_dir=tmp_path / "broken")
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "broken")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    return tmp_path / "straight", tmp_path / "broken"


def test_interrupted_and_resumed_run_ends_bitwise_identical(tmp_path):
    straight_and_resumed(tmp_path)
    rows_a = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    rows_b = (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(r).items() if k != "images_per_second"}
             for r in rows_a]
    again = [{k: v for k, v in json.loads(r).items() if k != "images_per_second"}
             for r in rows_b]
    assert strip == again


def test_a_run_with_a_policy_erasing_repeats_and_bce_resumes_bitwise_identical(tmp_path):
    # Per-image seeds of (seed, epoch, sample, copy): the policy's draws after resuming are
    # the ones the uninterrupted run made, and the global generators (mixup's) are untouched.
    straight, _ = straight_and_resumed(tmp_path, stop_after=4, **{  # epoch 2: steps 4 to 6
        "data.policy": "randaugment", "data.erasing": 0.5, "data.repeated_aug": 2,
        "optim.loss": "bce", "data.mixup_alpha": 0.2, "epochs": 2})
    plain = tiny_config(tmp_path, run_name="plain", epochs=2, **{"data.mixup_alpha": 0.2,
                                                                 "optim.loss": "bce"})
    train(plain)
    a, b = final_weights(straight), final_weights(tmp_path / "plain")
    assert not torch.equal(a["fc.weight"], b["fc.weight"])  # the policy did change the data


class PoisonAt(Hook):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, ctx):
        if ctx.step == self.step:
            with torch.no_grad():
                ctx.model.fc.weight.fill_(float("nan"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, run_name="nan", checkpoint_every=1)
    with pytest.raises(TrainingDiverged) as err:
        train(cfg, hooks=[PoisonAt(3)])
    message = str(err.value)
    assert "diverged" in message and "\n" not in message
    state = CheckpointManager(tmp_path / "nan").load_latest()
    assert state["step"] == 2  # the poisoned step 3 was never saved
    assert all(torch.isfinite(v).all() for v in state["model"].values()
               if v.is_floating_point())


def test_batch_larger_than_dataset_fails_before_training(tmp_path):
    with pytest.raises(ResnetsError, match="does not fit the dataset of 48"):
        train(tiny_config(tmp_path, run_name="big", batch_size=64))
    assert not (tmp_path / "big" / "last.pt").exists()


def test_resume_with_another_model_is_refused(tmp_path):
    cfg = tiny_config(tmp_path, run_name="m", epochs=1)
    train(cfg)
    other = tiny_config(tmp_path, run_name="m", epochs=1, **{"model.name": "resnet32"})
    with pytest.raises(ResnetsError, match="drop model.name=resnet32 .only epochs, "):
        train(other, resume_dir=tmp_path / "m")


def test_hooks_see_every_step_and_gradients(tmp_path):
    class Record(Hook):
        def __init__(self):
            self.steps, self.grad_seen = [], []

        def after_backward(self, ctx):
            self.grad_seen.append(ctx.model.conv1.weight.grad is not None)

        def on_step_end(self, ctx):
            self.steps.append(ctx.step)

    hook = Record()
    train(tiny_config(tmp_path, run_name="h", epochs=2), hooks=[hook])
    assert hook.steps == [1, 2, 3, 4, 5, 6] and all(hook.grad_seen)


def test_tensorboard_events_hold_the_logged_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(tiny_config(tmp_path, run_name="tb", epochs=2))
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    assert "test_error" in events.Tags()["scalars"]
    logged = [json.loads(r) for r in
              (tmp_path / "tb" / "metrics.jsonl").read_text().splitlines()]
    steps = [e.step for e in events.Scalars("test_error")]
    values = [e.value for e in events.Scalars("test_error")]
    assert steps == [r["step"] for r in logged]
    assert values == pytest.approx([r["test_error"] for r in logged])


def test_a_run_that_diverges_before_its_first_checkpoint_says_none_was_kept(tmp_path):
    with pytest.raises(TrainingDiverged) as err:
        train(tiny_config(tmp_path, run_name="early"), hooks=[PoisonAt(1)])
    assert "no checkpoint was written yet" in str(err.value)
    assert "last good checkpoint" not in str(err.value)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    train(tiny_config(out, run_name="pos", epochs=1))
    return out / "pos"


@pytest.mark.parametrize("fields, message", [
    ({"step": -1}, "step is -1, outside >= 0"),
    ({"step": 2.5}, "step is 2.5, not an integer"),
    ({"position": 99}, "position is 99, outside 0..3"),
    ({"step": 50}, "step 50 does not match epoch 1 and position 0"),
    ({"best": "low"}, "best is 'low', not a number"),
    ({"classes": ["x"] * 10}, "classes name 'x' twice"),
])
def test_resume_refuses_a_checkpoint_with_a_wrong_position(finished_run, tmp_path, fields,
                                                           message):
    shutil.copytree(finished_run, tmp_path / "pos")
    cfg = load_run_config(tmp_path / "pos")  # a resume continues with the run's own settings
    manager = CheckpointManager(tmp_path / "pos")
    save_checkpoint(manager.last_path, {**manager.load_latest(), **fields},
                    keep_previous=False)
    with pytest.raises(CheckpointError) as err:
        train(cfg, resume_dir=tmp_path / "pos")
    assert message in str(err.value)
    assert f"the last checkpoint in {str(tmp_path / 'pos')!r}" in str(err.value)


def test_resume_with_a_damaged_metrics_file_is_one_line(finished_run, tmp_path):
    shutil.copytree(finished_run, tmp_path / "pos")
    with open(tmp_path / "pos" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 3, "lr": \n')
    with pytest.raises(ResnetsError) as err:
        longer = apply_overrides(load_run_config(tmp_path / "pos"), {"epochs": "2"})
        train(longer, resume_dir=tmp_path / "pos")
    assert "metrics file" in str(err.value) and "line 2 is not valid JSON" in str(err.value)


class CtrlCAt(Hook):
    """A second Ctrl-C (KeyboardInterrupt) after step ``step``."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, ctx):
        if ctx.step == self.step:
            raise KeyboardInterrupt


def test_ctrl_c_before_the_first_checkpoint_prints_no_resume_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        train(tiny_config(tmp_path, run_name="ctrl"), hooks=[CtrlCAt(1)])
    out = capsys.readouterr().out
    assert stop.value.code == 130
    assert "no checkpoint was written yet" in out and "--resume" not in out
