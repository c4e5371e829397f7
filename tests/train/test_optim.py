import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.train.optim import build_optimizer, split_decay
from resnets.train.schedules import apply_lr


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.gn = nn.GroupNorm(2, 4)
        self.fc = nn.Linear(4, 5)
        self.ln = nn.LayerNorm(5)
        self.tied = nn.Linear(5, 5, bias=False)
        self.tied_again = self.tied  # the same module reached twice
        self.frozen = nn.Linear(5, 5)
        self.frozen.requires_grad_(False)


def _ids(params):
    return [id(p) for p in params]


def test_groups_partition_the_trainable_parameters_exactly():
    model = Mixed()
    opt = build_optimizer(model, lr=0.1, decay_norm_and_bias=False)
    groups = {g["name"]: g for g in opt.param_groups}
    decay, no_decay = _ids(groups["decay"]["params"]), _ids(groups["no_decay"]["params"])
    trainable = _ids(p for p in model.parameters() if p.requires_grad)
    assert len(decay) == len(set(decay)) and len(no_decay) == len(set(no_decay))
    assert not set(decay) & set(no_decay)
    assert sorted(decay + no_decay) == sorted(trainable)
    assert set(decay) == set(_ids([model.conv.weight, model.fc.weight, model.tied.weight]))
    assert set(no_decay) == set(_ids([model.bn.weight, model.bn.bias, model.gn.weight,
                                      model.gn.bias, model.fc.bias, model.ln.weight,
                                      model.ln.bias]))
    assert groups["decay"]["weight_decay"] == 1e-4 and groups["no_decay"]["weight_decay"] == 0


def test_default_decays_every_parameter_in_one_group():
    model = Mixed()
    opt = build_optimizer(model, lr=0.1, momentum=0.5, weight_decay=5e-4, nesterov=True)
    (group,) = opt.param_groups
    assert sorted(_ids(group["params"])) == sorted(
        _ids(p for p in model.parameters() if p.requires_grad))
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"],
            group["lr_scale"]) == (0.1, 0.5, 5e-4, True, 1.0)


def test_undecayed_group_is_not_shrunk_by_a_step():
    model = Mixed()
    opt = build_optimizer(model, lr=0.5, momentum=0.0, weight_decay=0.1,
                          decay_norm_and_bias=False)
    before_conv, before_bn = model.conv.weight.detach().clone(), model.bn.weight.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(model.conv.weight.detach(), before_conv * (1 - 0.5 * 0.1))
    torch.testing.assert_close(model.bn.weight.detach(), before_bn)


def test_split_decay_counts_shared_parameters_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    decay, no_decay = split_decay(model)
    assert _ids(decay) == [id(shared.weight)] and _ids(no_decay) == [id(shared.bias)]


@pytest.mark.parametrize("kwargs, words", [
    ({"lr": 0.0}, "learning rate"),
    ({"lr": -0.1}, "learning rate"),
    ({"lr": float("nan")}, "learning rate"),
    ({"lr": 0.1, "momentum": 1.0}, "momentum"),
    ({"lr": 0.1, "momentum": -0.1}, "momentum"),
    ({"lr": 0.1, "weight_decay": -1e-4}, "weight decay"),
    ({"lr": 0.1, "momentum": 0.0, "nesterov": True}, "Nesterov"),
])
def test_bad_settings_raise_one_line(kwargs, words):
    with pytest.raises(ResnetsError, match=words) as info:
        build_optimizer(Mixed(), **kwargs)
    assert "\n" not in str(info.value)


def test_fully_frozen_model_is_refused():
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ResnetsError, match="no trainable parameters"):
        build_optimizer(model, lr=0.1)


def test_a_lower_backbone_lr_gets_groups_of_its_own_and_keeps_its_ratio():
    model = create_model("resnet20", num_classes=3)
    opt = build_optimizer(model, lr=0.1, decay_norm_and_bias=False, backbone_lr_scale=0.1)
    groups = {g["name"]: g for g in opt.param_groups}
    assert sorted(groups) == ["decay", "head_decay", "head_no_decay", "no_decay"]
    assert _ids(groups["head_decay"]["params"]) == [id(model.fc.weight)]
    assert _ids(groups["head_no_decay"]["params"]) == [id(model.fc.bias)]
    backbone = _ids(groups["decay"]["params"]) + _ids(groups["no_decay"]["params"])
    assert sorted(backbone) == sorted(_ids(p for n, p in model.named_parameters()
                                            if not n.startswith("fc.")))
    assert groups["head_no_decay"]["weight_decay"] == 0 and groups["decay"]["weight_decay"] == 1e-4
    for lr in (0.1, 0.037):  # the schedule sets every step's lr; the ratio stays 1 : 10
        apply_lr(opt, lr)
        assert groups["head_decay"]["lr"] == lr and groups["head_no_decay"]["lr"] == lr
        assert groups["decay"]["lr"] == pytest.approx(lr * 0.1)
        assert groups["no_decay"]["lr"] == pytest.approx(lr * 0.1)


def test_one_step_moves_the_backbone_by_the_scaled_lr():
    model = create_model("resnet20", num_classes=3)
    opt = build_optimizer(model, lr=0.5, momentum=0.0, weight_decay=0.0, backbone_lr_scale=0.2)
    before_conv, before_fc = model.conv1.weight.detach().clone(), model.fc.weight.detach().clone()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    torch.testing.assert_close(model.conv1.weight.detach(), before_conv - 0.5 * 0.2)
    torch.testing.assert_close(model.fc.weight.detach(), before_fc - 0.5)


def test_scale_zero_leaves_the_backbone_out_and_frozen_parameters_stay_out():
    model = create_model("resnet20", num_classes=3)
    model.conv1.requires_grad_(False)
    opt = build_optimizer(model, lr=0.1, backbone_lr_scale=0.0)
    assert [g["name"] for g in opt.param_groups] == ["head_decay"]
    assert _ids(opt.param_groups[0]["params"]) == _ids([model.fc.weight, model.fc.bias])
    opt = build_optimizer(model, lr=0.1, backbone_lr_scale=0.5)
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(model.conv1.weight) not in optimised
    assert len(optimised) == sum(p.requires_grad for p in model.parameters())


def test_a_backbone_scale_needs_a_classifier_and_a_sane_value():
    with pytest.raises(ResnetsError, match="no classifier"):
        build_optimizer(nn.Sequential(nn.Linear(2, 2)), lr=0.1, backbone_lr_scale=0.5)
    with pytest.raises(ResnetsError, match="lr scale must be >= 0"):
        build_optimizer(Mixed(), lr=0.1, backbone_lr_scale=-1.0)
