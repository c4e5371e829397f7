"""LARS and LAMB against timm's implementations, step for step, with norm parameters and
biases neither decayed nor adapted."""

import pytest
import torch
from timm.optim import Lamb, Lars

from resnets.train.optim import build_optimizer, split_decay


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 36, 5))


def timm_groups(model, weight_decay):
    decay, no_decay = split_decay(model)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def run_steps(model, optimizer, steps=6):
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 3, 8, 8, generator=gen)
        y = torch.randint(0, 5, (4,), generator=gen)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        yield [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name, reference", [
    ("lamb", lambda m: Lamb(timm_groups(m, 0.02), lr=0.01, weight_decay=0.02,
                            max_grad_norm=None)),
    ("lars", lambda m: Lars(timm_groups(m, 0.02), lr=0.5, momentum=0.9, weight_decay=0.02)),
])
def test_each_step_equals_timms(name, reference):
    ours_model, theirs_model = tiny_model(), tiny_model()
    ours = build_optimizer(ours_model, lr=0.01 if name == "lamb" else 0.5, momentum=0.9,
                           weight_decay=0.02, name=name)
    theirs = reference(theirs_model)
    for mine, timms in zip(run_steps(ours_model, ours), run_steps(theirs_model, theirs)):
        for a, b in zip(mine, timms):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    start = [p for p in tiny_model().parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(mine, start))  # the steps moved them


@pytest.mark.parametrize("name", ["lamb", "lars"])
def test_norm_parameters_and_biases_are_neither_decayed_nor_adapted(name):
    model = tiny_model()
    optimizer = build_optimizer(model, lr=0.1, weight_decay=0.05, name=name,
                                decay_norm_and_bias=True)  # the layer-wise ones ignore it
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["decay"]["adapt"] and groups["decay"]["weight_decay"] == 0.05
    assert not groups["no_decay"]["adapt"] and groups["no_decay"]["weight_decay"] == 0.0
    bn = model[1]
    assert {id(bn.weight), id(bn.bias), id(model[0].bias)} <= {
        id(p) for p in groups["no_decay"]["params"]}


def test_lars_scales_each_layer_to_its_own_size():
    model = tiny_model()
    with torch.no_grad():
        model[4].weight.mul_(100)  # a hundred times larger layer
    before = [p.detach().clone() for p in model.parameters()]
    next(run_steps(model, build_optimizer(model, lr=1.0, momentum=0.0, weight_decay=0.0,
                                          name="lars"), steps=1))
    moved = [((p - b).norm() / b.norm()).item() for p, b in zip(model.parameters(), before)]
    assert moved[0] == pytest.approx(0.001, rel=1e-3)  # the trust coefficient, for each
    assert moved[-2] == pytest.approx(0.001, rel=1e-3)  # ... however large the layer
