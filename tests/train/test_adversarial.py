"""Adversarial training: the objective's attack, its side effects, and its wiring into the
engine (``adv.method``)."""

import math

import pytest
import torch
import torch.distributed as dist
from torch import nn

from resnets.errors import ResnetsError
from resnets.train.checkpoint import CheckpointManager
from resnets.train.config import TrainConfig, apply_overrides
from resnets.train.engine import train
from resnets.train.adversarial import adversarial_objective, restored_buffers
from resnets.train.ema import unwrap_model
from resnets.train.recipes import recipe_config

MEAN, STD = [0.3], [0.2]


def adv_config(**adv):
    return apply_overrides(TrainConfig(), {f"adv.{k}": str(v) for k, v in adv.items()})


def linear_on_normalised():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def test_fgsm_objective_trains_on_the_closed_form_attack_in_pixel_space():
    net = linear_on_normalised()
    pixels = 0.3 + 0.4 * torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    images = (pixels - MEAN[0]) / STD[0]  # what the loader gives
    labels = torch.tensor([0, 1, 1, 0])
    eps = 0.05
    cfg = adv_config(method="fgsm", eps=eps, step_size=eps, random_start="false")
    loss, logits = adversarial_objective(cfg, MEAN, STD)(net, images, labels)
    w = net[1].weight.detach()
    # Normalising divides by a positive std, so the pixel gradient's sign is w_o - w_y's.
    attacked = pixels + eps * (w[1 - labels] - w[labels]).view(-1, 1, 4, 4).sign()
    expected = net((attacked - MEAN[0]) / STD[0])
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(loss, nn.functional.cross_entropy(expected, labels))


def bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3)).train()


def test_the_attack_leaves_no_gradients_and_moves_batchnorm_statistics_once():
    net, images = bn_net(), torch.randn(8, 1, 6, 6)
    labels = torch.randint(3, (8,), generator=torch.Generator().manual_seed(2))
    objective = adversarial_objective(adv_config(method="pgd", steps=5), MEAN, STD)
    loss, _ = objective(net, images, labels)
    assert all(p.grad is None for p in net.parameters())  # the attack's backward left none
    assert net[1].num_batches_tracked.item() == 1  # the training forward only, not 5 more
    assert net.training
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_restored_buffers_puts_running_statistics_back():
    net = bn_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with restored_buffers(net):
        net(torch.randn(8, 1, 6, 6))
        assert not torch.equal(net[1].running_mean, before["1.running_mean"])
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key


class Compiled(nn.Module):
    """Stands in for torch.compile's wrapper, which keeps the module as ``_orig_mod``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self._orig_mod = module


def test_under_distributed_data_parallel_the_attack_bypasses_the_reducer(tmp_path):
    """Through DDP the attack's backward would leave the reducer waiting, and the next step
    would fail; unwrapped, two DDP steps give the gradients of the plain module."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)
    try:
        plain, wrapped = bn_net(), nn.parallel.DistributedDataParallel(bn_net())
        assert unwrap_model(Compiled(wrapped)) is wrapped.module
        objective = adversarial_objective(adv_config(method="pgd", steps=2), MEAN, STD)
        for step in range(2):
            images = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(step))
            labels = torch.randint(3, (8,), generator=torch.Generator().manual_seed(step))
            for net in (plain, wrapped):
                torch.manual_seed(10 + step)  # the same random starts for both
                net.zero_grad()
                objective(net, images, labels)[0].backward()
            for p, q in zip(plain.parameters(), wrapped.module.parameters()):
                torch.testing.assert_close(p.grad, q.grad)
    finally:
        dist.destroy_process_group()


def test_bad_settings_are_refused_before_training():
    with pytest.raises(ResnetsError, match="'none' is not an adversarial training method"):
        adversarial_objective(adv_config(method="none"), MEAN, STD)
    with pytest.raises(ResnetsError, match="needs the data's normalisation"):
        adversarial_objective(adv_config(method="pgd"), [], [])


TINY = {"data.train_fraction": "0.1", "batch_size": "32", "iterations": "3", "device": "cpu",
        "deterministic": "true", "schedule.warmup_iters": "0"}


def tiny_run(tmp_path, name, **adv):
    overrides = {**TINY, "out_dir": str(tmp_path), "run_name": name,
                 **{f"adv.{k}": str(v) for k, v in adv.items()}}
    summary = train(recipe_config("digits-resnet20", overrides))
    return summary, CheckpointManager(tmp_path / name).load_latest()["model"]


def test_engine_adversarial_training_at_eps_zero_is_standard_training(tmp_path):
    """eps = 0: the attack hands back the batch itself, and the BatchNorm statistics see only
    the training forward: the weights and buffers equal a standard run's, bit for bit. (ReLU
    networks on the digits' flat images turn a 1e-7 difference into 1e-2 within a few
    steps, so anything short of exact would show.) A real eps changes the run."""
    _, standard = tiny_run(tmp_path, "standard")
    summary, at_zero = tiny_run(tmp_path, "pgd0", method="pgd", eps=0, steps=2)
    _, attacked = tiny_run(tmp_path, "pgd", method="pgd", eps="16/255", step_size="8/255",
                           steps=2)
    assert summary["steps"] == 3 and math.isfinite(summary["test_error"])
    def distance(a, b):
        return max((a[k].float() - b[k].float()).abs().max().item() for k in a)

    assert distance(at_zero, standard) == 0
    assert distance(attacked, standard) > 1e-3
