"""SWA in the engine: a uniform average of epoch-end weights, BN re-estimated, resumed exactly."""

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.train.averaging import (WeightAverages, estimate_batch_norm, swa_first_epoch,
                                     update_batch_norm)
from resnets.train.checkpoint import CheckpointManager, load_checkpoint
from resnets.train.classification import ClassificationTask
from resnets.train.context import StopAfterStep
from resnets.train.engine import Hook, train
from resnets.train.inference import evaluate_checkpoint
from resnets.train.recipes import recipe_config

# 48 synthetic images: 36 to train (3 steps of 12 per epoch), 12 to test; SWA over epochs 2-3.
TINY = {"data.synthetic_size": "48", "data.augment": "cifar", "batch_size": "12",
        "eval_batch_size": "64", "epochs": "3", "device": "cpu", "deterministic": "true",
        "schedule.name": "cosine", "optim.lr": "0.05", "optim.swa_start": "0.34",
        "optim.swa_lr": "0.02"}


def tiny_config(tmp_path, **extra):
    overrides = {**TINY, "out_dir": str(tmp_path), **{k: str(v) for k, v in extra.items()}}
    return recipe_config("synthetic-smoke", overrides)


class EpochEndWeights(Hook):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, ctx, row):
        self.weights.append({k: v.clone() for k, v in ctx.model.named_parameters()})


def rows(run):
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_second"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted SWA run, and the weights at the end of each of its epochs."""
    out = tmp_path_factory.mktemp("runs")
    seen = EpochEndWeights()
    train(tiny_config(out, run_name="straight"), hooks=[seen])
    return out / "straight", seen


def test_swa_averages_the_epoch_ends_from_swa_start_and_evaluates_them(straight, tmp_path):
    run, seen = straight
    averaged = load_checkpoint(run / "swa.pt")
    assert averaged["averaged"] == {"method": "swa", "models": 2}
    for name in seen.weights[0]:  # epochs 2 and 3: floor(0.34 * 3) = 1 epoch before
        mean = (seen.weights[1][name] + seen.weights[2][name]) / 2
        torch.testing.assert_close(averaged["model"][name], mean, rtol=1e-6, atol=1e-7)
    live = CheckpointManager(run).load_latest()["model"]
    key = "stem.1.running_mean" if "stem.1.running_mean" in live else next(
        k for k in live if k.endswith("running_mean"))
    assert not torch.equal(averaged["model"][key], live[key])  # re-estimated, not copied
    logged = rows(run)
    assert [r["lr"] for r in logged][1:] == [0.02, 0.02]  # optim.swa_lr while averaging
    # The last row's test error is that of the averaged weights, as evaluate finds it.
    report = evaluate_checkpoint(run / "swa.pt", out_dir=str(tmp_path))
    assert report["top1_error"] == pytest.approx(logged[-1]["test_error"])
    assert report["loss"] == pytest.approx(logged[-1]["test_loss"], rel=1e-5)


@pytest.mark.parametrize("stop_at", [4, 7])  # before the first average, and after it
def test_interrupted_swa_run_resumes_bitwise_identical(straight, tmp_path, stop_at):
    broken = tiny_config(tmp_path, run_name="broken")
    with pytest.raises(SystemExit):
        train(broken, hooks=[StopAfterStep(stop_at)])
    assert not (tmp_path / "broken" / "swa.pt").exists()
    train(broken, resume_dir=tmp_path / "broken")
    for name in ("swa.pt", "last.pt"):
        a = load_checkpoint(straight[0] / name)["model"]
        b = load_checkpoint(tmp_path / "broken" / name)["model"]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    assert rows(straight[0]) == rows(tmp_path / "broken")


def test_re_estimating_bn_leaves_the_training_alone(tmp_path):
    """Without swa_lr, a run with SWA trains the very weights of a run without it."""
    train(tiny_config(tmp_path, run_name="with", **{"optim.swa_lr": 0}))
    train(tiny_config(tmp_path, run_name="without", **{"optim.swa_lr": 0,
                                                       "optim.swa_start": 0}))
    a = CheckpointManager(tmp_path / "with").load_latest()["model"]
    b = CheckpointManager(tmp_path / "without").load_latest()["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "without" / "swa.pt").exists()


def test_a_task_without_model_inputs_keeps_the_live_bn_statistics(tmp_path, monkeypatch):
    monkeypatch.setattr(ClassificationTask, "model_input", lambda self, cfg, batch, d: None)
    train(tiny_config(tmp_path, run_name="plain"))
    averaged = load_checkpoint(tmp_path / "plain" / "swa.pt")["model"]
    live = CheckpointManager(tmp_path / "plain").load_latest()["model"]
    buffers = [k for k in live if "running_" in k]
    assert buffers and all(torch.equal(averaged[k], live[k]) for k in buffers)


def test_a_model_without_batch_norm_averages_and_evaluates():
    model = nn.Linear(2, 1)
    cfg = recipe_config("synthetic-smoke", {"optim.swa_start": "0.5"})
    averages = WeightAverages(cfg, model, epochs=2)
    for value in (1.0, 3.0):
        with torch.no_grad():
            model.weight.fill_(value)
        averages.end_epoch(model, epoch=1)
    # No training batches nor task: nothing to re-estimate, so neither is read.
    ctx = SimpleNamespace(model=model, data=SimpleNamespace(train=None), task=None, cfg=cfg,
                          device=torch.device("cpu"), epoch=0)
    evaluated = averages.for_evaluation(ctx)
    assert torch.equal(evaluated.weight, torch.full((1, 2), 2.0))
    assert not estimate_batch_norm(evaluated, None, None, torch.device("cpu"), "fp32")


@pytest.mark.parametrize("start, epochs, first", [(0.34, 3, 1), (0.75, 4, 3), (0.01, 5, 0),
                                                  (2, 5, 2), (0.99, 1, 0)])
def test_swa_first_epoch(start, epochs, first):
    assert swa_first_epoch(start, epochs) == first


@pytest.mark.parametrize("extra, words", [
    ({"optim.ema_decay": 0.9}, "optim.ema_decay and optim.swa_start both average"),
    ({"optim.swa_start": 0}, "set optim.swa_start too"),
    ({"optim.swa_start": 2.5}, "a whole number of epochs"),
    ({"optim.swa_start": 3}, "leaves none of the 3 epochs"),
])
def test_impossible_swa_settings_are_one_line_before_any_run(tmp_path, extra, words):
    with pytest.raises(ResnetsError, match=words) as info:
        train(tiny_config(tmp_path, run_name="bad", **extra))
    assert "\n" not in str(info.value) and not (tmp_path / "bad").exists()


def _bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1),
                         nn.BatchNorm2d(4))


def test_update_batch_norm_is_torchs_update_bn_and_leaves_frozen_stages_alone():
    from torch.optim.swa_utils import update_bn

    from resnets.train.finetune import _freeze

    batches = [torch.randn(5, 3, 6, 6) * (i + 1) + i for i in range(3)]
    ours, theirs = _bn_net(), _bn_net()
    update_batch_norm(ours, batches)
    update_bn(batches, theirs)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert ours[1].momentum == 0.1 and ours.training
    frozen = _bn_net()
    _freeze([frozen[:2]])  # the first conv and BatchNorm, as model.freeze_stages does
    kept = frozen[1].running_var.clone()
    update_batch_norm(frozen, batches)
    assert torch.equal(frozen[1].running_var, kept)  # update_bn would have reset it
    assert not torch.equal(frozen[4].running_var, torch.ones(4))  # the others re-estimated
