"""Mixed precision (fp16 with a gradient scaler, auto) and gradient accumulation in the
engine: every task gets them."""

import contextlib
import json

import pytest
import torch

from resnets.models import fuse
from resnets.train.checkpoint import CheckpointManager
from resnets.train.context import StopAfterStep
from resnets.train.device import resolve_precision
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

# GroupNorm and no augmentation: no batch statistics and no draws that depend on the batch.
PLAIN = {"data.synthetic_size": "64", "data.augment": "none", "eval_batch_size": "64",
         "epochs": "2", "device": "cpu", "deterministic": "true", "model.norm": "group",
         "schedule.name": "cosine", "optim.lr": "0.05", "optim.momentum": "0.9"}


def config(tmp_path, name, **extra):
    return recipe_config("synthetic-smoke", {**PLAIN, "out_dir": str(tmp_path),
                                             "run_name": name, **extra})


def weights(run_dir):
    return CheckpointManager(run_dir).load_latest()


def test_accumulated_steps_give_the_update_of_the_larger_batch(tmp_path):
    whole = train(config(tmp_path, "whole", batch_size="16"))
    split = train(config(tmp_path, "split", batch_size="8", **{"optim.accum_steps": "2"}))
    assert whole["steps"] == split["steps"] == 2 * (64 // 16)  # optimiser steps
    a, b = weights(tmp_path / "whole")["model"], weights(tmp_path / "split")["model"]
    train(config(tmp_path, "other", batch_size="8"))  # the same batches, one step each
    c = weights(tmp_path / "other")["model"]
    for key in a:
        if a[key].is_floating_point():  # float summation order is all that differs
            assert (a[key] - b[key]).abs().max() < 5e-4, key  # 8 steps amplify it
    assert max((a[k] - c[k]).abs().max() for k in a if a[k].is_floating_point()) > 1e-2


class CountingWrapper(torch.nn.Module):
    """Stands in for DistributedDataParallel: counts the passes made under no_sync()."""

    def __init__(self, module):
        super().__init__()
        self.module, self.quiet = module, 0

    def forward(self, x):
        return self.module(x)

    @contextlib.contextmanager
    def no_sync(self):
        self.quiet += 1
        yield


def test_accumulating_passes_skip_the_gradient_exchange(tmp_path):
    wrappers = []

    def wrap(model):
        wrappers.append(CountingWrapper(model))
        return wrappers[-1]

    summary = train(config(tmp_path, "ddp", batch_size="4", **{"optim.accum_steps": "3"}),
                    wrap_model=wrap)
    assert summary["steps"] == 2 * ((64 // 4) // 3)
    assert wrappers[0].quiet == 2 * summary["steps"]  # all but the last of each step's three


def test_accumulation_longer_than_an_epoch_is_one_line(tmp_path):
    with pytest.raises(Exception, match="optim.accum_steps=9 is more than the 4 batches"):
        train(config(tmp_path, "long", batch_size="16", **{"optim.accum_steps": "9"}))


@pytest.mark.slow  # fp16 on a CPU is slow; the suite's 15 minutes
def test_an_interrupted_accumulating_fp16_run_resumes_bit_for_bit(tmp_path):
    extra = {"batch_size": "8", "optim.accum_steps": "2", "precision": "fp16"}
    train(config(tmp_path, "straight", **extra))
    broken = config(tmp_path, "broken", **extra)
    with pytest.raises(SystemExit):
        train(broken, hooks=[StopAfterStep(5)])  # inside the second epoch (4 steps each)
    state = weights(tmp_path / "broken")
    assert state["step"] == 5 and state["position"] == 1
    assert state["scaler"]["scale"] == 65536.0  # the gradient scaler is checkpointed
    train(broken, resume_dir=tmp_path / "broken")
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "broken")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["scaler"] == b["scaler"]


@pytest.mark.slow  # 44 s on a 2-core Xeon; bf16 and the fp16 unit tests stay quick
def test_fp16_is_autocast_with_loss_scaling(tmp_path):
    summary = train(config(tmp_path, "half", batch_size="16", precision="fp16", epochs="1"))
    assert summary["test_error"] is not None
    state = weights(tmp_path / "half")
    assert state["scaler"] is not None and state["config"]["precision"] == "fp16"
    assert weights(tmp_path / "half")["model"]["fc.weight"].dtype == torch.float32


@pytest.mark.parametrize("flags, picked", [({"avx512f"}, "fp32"),
                                           ({"avx512f", "avx512_bf16"}, "bf16"),
                                           ({"amx_bf16"}, "bf16"), (set(), "fp32")])
def test_auto_on_a_cpu_follows_its_flags_not_onednn(monkeypatch, flags, picked):
    monkeypatch.setattr(fuse, "cpu_flags", lambda: flags)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True,
                        raising=False)
    assert resolve_precision("auto", torch.device("cpu")) == picked
    assert resolve_precision("fp16", torch.device("cpu")) == "fp16"  # asked for: as it is


@pytest.mark.parametrize("capability, picked", [((8, 0), "bf16"), ((9, 0), "bf16"),
                                                ((7, 5), "fp16")])
def test_auto_on_a_gpu_follows_its_compute_capability(monkeypatch, capability, picked):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_precision("auto", torch.device("cuda")) == picked


def test_the_run_records_what_auto_picked(tmp_path, monkeypatch):
    monkeypatch.setattr(fuse, "cpu_flags", set)
    train(config(tmp_path, "auto", batch_size="16", precision="auto", epochs="1"))
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["precision"] == "fp32"
