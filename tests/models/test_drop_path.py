"""Stochastic depth (Huang et al. 2016): linearly decaying survival, per-sample drops scaled to
keep the expected value in training, the identity at evaluation, on every residual family."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import DropPath, create_model
from resnets.models.layers import drop_path


def blocks(model: nn.Module) -> list[nn.Module]:
    return [blk for stage in model.stage_names for blk in getattr(model, stage)]


def within(observed: float, expected: float, std: float, sigmas: float = 5.0) -> bool:
    return abs(observed - expected) <= sigmas * std


# One model of every residual family (the plain family has no residual branch to drop).
FAMILY_MODELS = [("resnet20", {}, 16), ("preact_resnet18", {}, 32),
                 ("cifar_wrn", {"depth": 10, "widen_factor": 2}, 16),
                 ("resnext50_32x4d", {}, 32), ("se_resnet18", {}, 32)]


@pytest.mark.parametrize("name,options,res", FAMILY_MODELS)
def test_survival_decays_linearly_over_the_blocks(name, options, res):
    model = create_model(name, drop_path_rate=0.4, **options)
    rates = [blk.drop_path.p for blk in blocks(model)]
    total = len(rates)
    # Block l of L (from 1) drops its branch with probability 0.4 * l / L.
    assert rates == pytest.approx([0.4 * (i + 1) / total for i in range(total)])
    assert rates[-1] == pytest.approx(0.4)
    steps = [b - a for a, b in zip(rates, rates[1:])]
    assert steps == pytest.approx([0.4 / total] * (total - 1))
    # Off by default: no module at all.
    assert all(isinstance(blk.drop_path, nn.Identity) for blk in blocks(create_model(name,
                                                                                   **options)))


@pytest.mark.parametrize("name,options,res", FAMILY_MODELS)
def test_identity_in_eval_random_in_training(name, options, res, randomize_batchnorm):
    reference = randomize_batchnorm(create_model(name, **options), res)
    dropping = create_model(name, drop_path_rate=0.5, **options)
    dropping.load_state_dict(reference.state_dict(), strict=True)  # no extra state
    x = torch.randn(4, 3, res, res)
    with torch.no_grad():
        torch.testing.assert_close(dropping.eval()(x), reference.eval()(x), rtol=0, atol=0)
        dropping.train()
        reference.train()
        if name == "cifar_wrn":  # its blocks also drop out units: compare without that
            for blk in blocks(reference) + blocks(dropping):
                blk.drop.eval()
        first, second = dropping(x), dropping(x)
        assert not torch.allclose(first, second, atol=1e-4)
        # Without drop path the same two training-mode calls agree: the drops vary.
        torch.testing.assert_close(reference(x), reference(x))


def test_drop_path_is_per_sample_and_keeps_the_expectation():
    torch.manual_seed(0)
    n, p = 20000, 0.3
    x = torch.rand(n, 3, 2, 2) + 0.5
    out = drop_path(x, p, training=True)
    kept = (out != 0).flatten(1)
    assert (kept.all(1) | ~kept.any(1)).all()  # a sample is dropped whole or kept whole
    kept = kept.all(1)
    keep = 1 - p
    assert within(kept.float().mean().item(), keep, math.sqrt(keep * p / n))
    torch.testing.assert_close(out[kept], x[kept] / keep)  # survivors rescaled by 1/(1-p)
    ratio = (out / x).mean().item()  # unbiased: E[mask / keep] = 1
    assert within(ratio, 1.0, math.sqrt(p / keep / n))
    assert torch.equal(drop_path(x, p, training=False), x)
    assert torch.equal(DropPath(p).eval()(x), x)


def test_block_output_expectation_is_the_eval_output(randomize_batchnorm):
    # A pre-activation block returns x + F(x) / (1 - p) or x, per sample; averaged over
    # many samples that is x + F(x), what the block computes at evaluation.
    torch.manual_seed(0)
    model = randomize_batchnorm(create_model("preact_resnet18", drop_path_rate=0.8), 32)
    blk = model.layer4[1]
    p = blk.drop_path.p
    assert p == pytest.approx(0.8)
    n = 4000
    x = torch.randn(1, blk.bn1.num_features, 2, 2).expand(n, -1, -1, -1)
    with torch.no_grad():
        full = blk(x[:1])  # eval: x + F(x)
        blk.drop_path.train()  # BN keeps its running statistics
        out = blk(x)
    branch = full - x[:1]
    tol = 1e-5 * full.abs().max().item() / (1 - p)  # rounding of the subtraction, scaled
    dropped = torch.isclose(out, x, rtol=0, atol=tol).flatten(1).all(1)
    kept = torch.isclose(out, x[:1] + branch / (1 - p), rtol=0, atol=tol).flatten(1).all(1)
    assert (dropped ^ kept).all()  # every sample is one of the two
    assert within(dropped.float().mean().item(), p, math.sqrt(p * (1 - p) / n))
    error = (out.mean(0) - full[0]).abs().max().item()
    assert error < 5 * branch.abs().max().item() * math.sqrt(p / (1 - p) / n)


def test_checkpointing_recomputes_the_same_drops():
    plain = create_model("resnet20", drop_path_rate=0.5)
    ckpt = create_model("resnet20", drop_path_rate=0.5, grad_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict(), strict=True)
    x, target = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    results = []
    for model in (plain, ckpt):
        torch.manual_seed(3)  # the same masks in both forward passes
        F.cross_entropy(model.train()(x), target).backward()
        results.append({n: p.grad for n, p in model.named_parameters()})
    for n, grad in results[0].items():
        torch.testing.assert_close(results[1][n], grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,rate,needle", [("plain20", 0.1, "plain"),
                                              ("resnet20", 1.0, "drop_path_rate"),
                                              ("resnet20", -0.1, "drop_path_rate")])
def test_drop_path_errors(name, rate, needle):
    with pytest.raises(ResnetsError, match=needle) as err:
        create_model(name, drop_path_rate=rate)
    assert "\n" not in str(err.value)
