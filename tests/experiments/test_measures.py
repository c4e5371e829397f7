"""The measurements and settings behind the experiments, checked against hand computations."""

import math

import pytest
import torch
from torch import nn

import resnets
from resnets.errors import ResnetsError
from resnets.experiments import degradation, gradients, responses
from resnets.experiments.settings import (DIGITS_WARMUP, Budget, ExperimentConfig, Member,
                                          check, member_config, parse_budget, parse_seeds)


class TwoLayer(nn.Module):
    """y = conv2(relu(conv1(x))) with 1x1 convolutions on a 1x1 image."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 1, bias=False)
        self.conv2 = nn.Conv2d(2, 1, 1, bias=False)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
            self.conv2.weight.copy_(torch.tensor([3.0, 4.0]).view(1, 2, 1, 1))

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def test_gradient_norms_match_the_hand_computed_ones():
    # x = 1.5: h = (3, -1.5), relu(h) = (3, 0), y = 3*3 + 4*0 = 9, loss = y.
    # dL/dconv2 = relu(h) = (3, 0) -> norm 3; dL/dh = (3, 0) (the ReLU blocks h2), so
    # dL/dconv1 = (3 * 1.5, 0) -> norm 4.5. Weight norms: sqrt(2^2 + 1) and sqrt(3^2 + 4^2).
    model = TwoLayer()
    model(torch.full((1, 1, 1, 1), 1.5)).sum().backward()
    rows = gradients.layer_grad_norms(model)
    assert [r["name"] for r in rows] == ["conv1", "conv2"]
    assert [r["layer"] for r in rows] == [1, 2]
    assert rows[0]["grad_norm"] == pytest.approx(4.5)
    assert rows[1]["grad_norm"] == pytest.approx(3.0)
    assert rows[0]["weight_norm"] == pytest.approx(math.sqrt(5))
    assert rows[1]["weight_norm"] == pytest.approx(5.0)


def test_gradient_norms_cover_every_convolution_of_a_network_in_order():
    model = resnets.create_model("cifar_resnet", depth=14, shortcut="B", num_classes=10)
    rows = gradients.layer_grad_norms(model)  # no backward yet: no gradients
    names = [r["name"] for r in rows]
    # stem + 2 convs in each of 6 blocks + 2 projection shortcuts (where the shape changes)
    assert len(rows) == 1 + 12 + 2 and names[0] == "conv1"
    assert names[-1] == "layer3.1.conv2" and "layer2.0.downsample.0" in names
    assert all(math.isnan(r["grad_norm"]) for r in rows)


def test_first_last_ratio_is_taken_per_run_and_step():
    norms = [{"network": "plain", "depth": 8, "seed": 0, "step": s, "layer": i,
              "grad_norm": g} for s, values in ((0, [8.0, 1.0, 2.0]), (5, [1.0, 3.0, 4.0]))
             for i, g in zip((3, 1, 2), values)]  # layers deliberately out of order
    ratios = {r["step"]: r["ratio"] for r in gradients.first_last_ratios(norms)}
    assert ratios == {0: pytest.approx(1.0 / 8.0), 5: pytest.approx(3.0 / 1.0)}


def test_response_layers_are_the_bn_after_each_3x3_conv():
    model = resnets.create_model("cifar_plain", depth=14, shortcut="B", num_classes=10)
    names = [name for name, _ in responses.response_layers(model)]
    assert len(names) == 13 and names[:3] == ["bn1", "layer1.0.bn1", "layer1.0.bn2"]
    assert not any("downsample" in n for n in names)  # BN after a 1x1 projection


def test_response_std_is_the_per_channel_std_averaged_over_channels():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)
    with torch.no_grad():  # the identity: a centre tap per channel
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = conv.weight[1, 1, 1, 1] = 1.0
    bn = nn.BatchNorm2d(2, eps=0.0).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([2.0, 0.5]))
        bn.bias.copy_(torch.tensor([1.0, -3.0]))
    model = nn.Sequential()
    model.add_module("conv1", conv)
    model.add_module("bn1", bn)
    images = torch.randn(6, 2, 4, 4)
    batches = [(images[:4], None), (images[4:], None)]
    [row] = responses.response_stds(model, batches)
    # BN in eval mode with mean 0, var 1: response = gamma * x + beta, std = |gamma| * std(x)
    per_channel = images.transpose(0, 1).flatten(1).std(dim=1) * torch.tensor([2.0, 0.5])
    assert row["name"] == "bn1" and row["std"] == pytest.approx(per_channel.mean().item())


def test_budget_and_seed_parsing():
    assert parse_budget("400") == Budget(steps=400)
    assert parse_budget("30e") == parse_budget("30epochs") == Budget(epochs=30)
    assert parse_seeds("3") == (0, 1, 2) and parse_seeds("0,5") == (0, 5)
    for bad in ("0", "abc", "-3", "3x"):
        with pytest.raises(ResnetsError, match="--budget"):
            parse_budget(bad)
    with pytest.raises(ResnetsError, match="distinct"):
        parse_seeds("1,1")


def test_member_config_scales_the_paper_schedule_to_the_budget(tmp_path):
    cfg = ExperimentConfig("degradation", budget="400")
    member = Member("plain20-seed3", {"depth": 20},
                    {"model.name": "cifar_plain", "model.depth": 20, "seed": 3})
    train = member_config(cfg, Budget(steps=400), member, tmp_path)
    # the paper: lr 0.1 divided by 10 at 32k and 48k of 64k iterations
    assert train.schedule.milestones == (200, 300) and train.iterations == 400
    assert train.optim.lr == 0.1 and train.optim.momentum == 0.9 and train.batch_size == 128
    assert train.optim.weight_decay == 1e-4 and not train.optim.nesterov
    assert train.schedule.warmup_iters == DIGITS_WARMUP and train.schedule.warmup_lr == 0
    assert (train.model.name, train.model.depth, train.seed) == ("cifar_plain", 20, 3)
    assert train.run_name == "plain20-seed3" and train.out_dir == str(tmp_path)

    epochs = member_config(cfg, Budget(epochs=8), member, tmp_path)
    assert epochs.schedule.name == "multistep" and epochs.schedule.milestone_epochs == (4, 6)

    cifar = ExperimentConfig("degradation", data="cifar10", root="/data", budget="64000",
                             overrides=("optim.lr=0.05",))
    deep = Member("resnet110-seed0", {"depth": 110}, {"model.name": "cifar_resnet",
                                                      "model.depth": 110})
    train = member_config(cifar, Budget(steps=64000), deep, tmp_path)
    assert train.schedule.milestones == (32000, 48000) and train.data.augment == "cifar"
    assert train.schedule.warmup_iters == 0  # the paper's recipe on CIFAR, as published
    # ResNet-110: 0.01 until the training error is below 80% (the paper, Sec. 4.2)
    assert (train.schedule.warmup_lr, train.schedule.warmup_until_error) == (0.01, 0.8)
    assert train.optim.lr == 0.05  # the user's overrides come last


@pytest.mark.parametrize("fields, message", [
    ({"data": "cifar10"}, "--root"),
    ({"data": "cifar10", "root": "/no/such/folder"}, "not a folder"),
    ({"device": "gpu0"}, "--device must be a device: auto, cpu, cuda, cuda:N or mps"),
    ({"data": "imagenet"}, "--data"),
    ({"depths": (20, 21)}, "6n\\+2"),
    ({"overrides": ("optim.lrr=1",)}, "optim.lrr"),
])
def test_bad_settings_fail_before_any_work(fields, message):
    with pytest.raises(ResnetsError, match=message):
        check(ExperimentConfig("degradation", **fields))


def test_degradation_verdict_needs_plain_rising_and_residual_not():
    def groups(plain, resnet):
        return ([{"network": "plain", "depth": d, "train_error_mean": e}
                 for d, e in zip((20, 56), plain)] +
                [{"network": "resnet", "depth": d, "train_error_mean": e}
                 for d, e in zip((20, 56), resnet)])

    assert degradation.verdict(groups((0.01, 0.30), (0.01, 0.005)), (20, 56))[0]
    assert not degradation.verdict(groups((0.01, 0.015), (0.01, 0.005)), (20, 56))[0]
    assert not degradation.verdict(groups((0.01, 0.30), (0.01, 0.10)), (20, 56))[0]
    appeared, lines = degradation.verdict(groups((0.01, 0.30), (0.01, 0.005)), (20, 56))
    assert "1.00% at depth 20, 30.00% at depth 56" in lines[0]


def test_gradient_verdict_compares_the_ratio_change_with_depth():
    def groups(plain_deep, resnet_deep):
        rows = []
        for net, deep in (("plain", plain_deep), ("resnet", resnet_deep)):
            rows += [{"network": net, "depth": 20, "step": s, "ratio": 1.0} for s in (0, 9)]
            rows += [{"network": net, "depth": 110, "step": s, "ratio": deep} for s in (0, 9)]
        return rows

    assert gradients.verdict(groups(1e-3, 0.5), 9)[0]
    assert not gradients.verdict(groups(0.5, 0.5), 9)[0]
    assert not gradients.verdict(groups(1e-3, 1e-3), 9)[0]


def test_image_folders_train_the_cifar_networks_at_32_pixels(tmp_path):
    cfg = ExperimentConfig("shortcuts", data="folder", root="/data/imagenet-subset")
    member = Member("A20-seed0", {"depth": 20}, {"model.name": "cifar_resnet"})
    train = member_config(cfg, Budget(epochs=10), member, tmp_path)
    assert (train.data.dataset, train.data.root, train.data.image_size) == (
        "folder", "/data/imagenet-subset", 32)
    assert train.epochs == 10 and train.iterations == 0


def test_responses_verdict_needs_smaller_residual_responses_shrinking_with_depth():
    means = {("plain", 20): 0.9, ("plain", 56): 1.0, ("resnet", 20): 0.6, ("resnet", 56): 0.4}
    assert responses.verdict(means, (20, 56))[0]
    assert not responses.verdict({**means, ("resnet", 56): 0.7}, (20, 56))[0]
    assert not responses.verdict({**means, ("resnet", 20): 0.95}, (20, 56))[0]


def test_experiments_with_110_layer_nets_lower_the_lr_on_the_digits_only(tmp_path):
    for data, root, lr in (("digits", "", 0.05), ("cifar10", "/data", 0.1)):
        cfg = ExperimentConfig("responses", data=data, root=root, depths=(20, 110))
        configs = [member_config(cfg, Budget(steps=10), m, tmp_path)
                   for m in responses.members(cfg, Budget(steps=10))]
        assert len(configs) == 4 and {c.optim.lr for c in configs} == {lr}


def test_with_1202_adds_the_1202_layer_resnet_to_the_gradient_runs(tmp_path):
    cfg = ExperimentConfig("gradients", depths=(20, 56), with_1202=True, seeds=(0, 1))
    members = gradients.members(cfg, Budget(steps=7))
    assert [m.name for m in members if "1202" in m.name] == ["resnet1202-seed0",
                                                            "resnet1202-seed1"]
    assert len(members) == 2 * 2 * 2 + 2
    train = member_config(cfg, Budget(steps=7), members[-1], tmp_path)
    assert (train.model.name, train.model.depth, train.iterations) == ("cifar_resnet", 1202, 8)
    hook = members[-1].hooks()[0]
    assert isinstance(hook, gradients.GradNormHook) and hook.steps == (0, 7)
