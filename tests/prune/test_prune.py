"""Structured pruning: every block family keeps its function when the channels it loses
carry nothing, the parameter count follows from the kept channels, the MACs hit the target,
and `resnets prune` gives a run that resumes, evaluates and exports like any other."""

import json

import pytest
import torch
from torch import nn

from launching import interrupt, same_weights
from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.resnet import ResNet
from resnets.models.summary import count_macs, count_params
from resnets.prune.channels import channel_sets, plan_pruning, pruned_state_dict
from resnets.train.engine import train

SIZE = 16
FAMILIES = {  # tiny networks of every block family
    "basic-A": dict(block="basic", layers=(1, 1, 1), widths=(8, 16, 32), shortcut="A"),
    "basic-B": dict(block="basic", layers=(2, 1), widths=(8, 16)),
    "bottleneck": dict(block="bottleneck", layers=(1, 1), widths=(8, 16)),
    "preact-basic": dict(block="preact_basic", layers=(2, 1), widths=(8, 16)),
    "preact-bottleneck": dict(block="preact_bottleneck", layers=(1, 1), widths=(8, 16)),
    "wide": dict(block="preact_basic", layers=(1, 1), widths=(32, 64), stem_width=16,
                 block_dropout=0.3),
    "resnext": dict(block="bottleneck", layers=(1, 1), widths=(16, 32), groups=4,
                    base_width=16),
    "se": dict(block="basic", layers=(2, 1), widths=(16, 32), attn_layer="se",
               se_reduction=4),
    "se-resnext": dict(block="bottleneck", layers=(1, 1), widths=(16, 32), groups=2,
                       base_width=32, attn_layer="se", se_reduction=4),
}


def tiny(family, **extra):
    torch.manual_seed(0)
    model = ResNet(num_classes=5, stem="cifar", **FAMILIES[family], **extra)
    for m in model.modules():  # BN statistics and scales of a trained network
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def silence_half(model):
    """Zero the BN scale and shift of every second local channel of each set: they output
    nothing after their ReLU, so cutting them leaves the function as it was."""
    for cs in channel_sets(model):
        norm = model.get_submodule(f"{cs.block}.{cs.norm}")
        per_group = cs.width // cs.groups
        for g in range(cs.groups):
            for local in range(1, per_group, 2):
                norm.weight.data[g * per_group + local] = 0
                norm.bias.data[g * per_group + local] = 0


def widths_macs(family, widths):
    return count_macs(ResNet(num_classes=5, stem="cifar", **FAMILIES[family],
                             branch_widths=widths), SIZE)


@pytest.mark.parametrize("family", FAMILIES)
def test_channels_that_carry_nothing_go_first_and_the_function_stays(family):
    model = tiny(family)
    silence_half(model)
    sets, total = channel_sets(model), count_macs(model, SIZE)
    halved = [cs.width - (cs.width // cs.groups // 2) * cs.groups for cs in sets]
    goal = widths_macs(family, halved) / total
    plan = plan_pruning(model, goal + 1e-9, "bn", SIZE, 3, total)
    assert list(plan.branch_widths) == halved  # exactly the silenced ones are gone
    for cs, kept in zip(sets, plan.kept):
        assert all(int(i) % 2 == 0 for i in kept)
    pruned = ResNet(num_classes=5, stem="cifar", **FAMILIES[family],
                    branch_widths=plan.branch_widths).eval()
    pruned.load_state_dict(pruned_state_dict(model, plan))
    x = torch.randn(2, 3, SIZE, SIZE)
    assert pruned(x).shape == (2, 5)
    torch.testing.assert_close(pruned(x), model(x), rtol=1e-5, atol=1e-5)


def kept_channel_params(model, plan):
    """The parameter count computed from the kept channels: each convolution that reads or
    writes a pruned set has out x in / groups x k x k weights at its new widths, each BN of a
    set two per kept channel; everything else is as it was."""
    total, convs = count_params(model), {}
    for cs, kept in zip(plan.sets, plan.kept):
        blk, new = model.get_submodule(cs.block), len(kept) * cs.groups
        for name, side in ((cs.producer, 1), (cs.consumer, 0)):
            conv = getattr(blk, name)
            shape = convs.setdefault(f"{cs.block}.{name}", [conv.in_channels,
                                                             conv.out_channels, conv])
            shape[side] = new
        total -= 2 * (cs.width - new)  # BN scale and shift
    for cin, cout, conv in convs.values():
        total += cout * cin // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
        total -= conv.weight.numel()
    return total


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("criterion", ["l1", "bn"])
def test_parameters_follow_from_the_kept_channels_and_macs_hit_the_target(family, criterion):
    model = tiny(family)
    total = count_macs(model, SIZE)
    plan = plan_pruning(model, 0.5, criterion, SIZE, 3, total)
    pruned = ResNet(num_classes=5, stem="cifar", **FAMILIES[family],
                    branch_widths=plan.branch_widths)
    pruned.load_state_dict(pruned_state_dict(model, plan))
    assert all(w < cs.width for w, cs in zip(plan.branch_widths, plan.sets))  # all pruned
    assert count_params(pruned) == kept_channel_params(model, plan)
    assert 0.4 < count_macs(pruned, SIZE) / total <= 0.5
    assert plan.macs_after == count_macs(pruned, SIZE)


def test_a_resnet56_is_pruned_to_half_its_macs():
    model = create_model("resnet56", num_classes=10).eval()
    total = count_macs(model, 16)
    plan = plan_pruning(model, 0.5, "l1", 16, 3, total)
    pruned = create_model("resnet56", num_classes=10, branch_widths=plan.branch_widths)
    assert 0.49 < count_macs(pruned, 16) / total <= 0.5
    assert len(plan.branch_widths) == 27  # one inner width per basic block


def test_what_cannot_be_pruned_is_refused_in_one_line():
    with pytest.raises(ResnetsError, match="ResNet-family"):
        channel_sets(create_model("densenet121"))
    model = tiny("basic-B")
    total = count_macs(model, SIZE)
    with pytest.raises(ResnetsError, match="out of reach"):
        plan_pruning(model, 0.01, "l1", SIZE, 3, total)
    with pytest.raises(ResnetsError, match="criterion"):
        plan_pruning(model, 0.5, "random", SIZE, 3, total)
    with pytest.raises(ResnetsError, match="branch_widths has 2 entries"):
        ResNet(block="basic", layers=(2, 1), widths=(8, 16), branch_widths=(4, 4))
    with pytest.raises(ResnetsError, match="multiple of groups=4"):
        ResNet(block="bottleneck", layers=(1,), widths=(16,), groups=4, base_width=16,
               branch_widths=(6, 8))


TINY = ["data.synthetic_size=48", "batch_size=16", "eval_batch_size=64", "deterministic=true",
        "schedule.warmup_iters=0"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from resnets.train.recipes import recipe_config
    from resnets.train.config import parse_overrides

    out = tmp_path_factory.mktemp("source")
    cfg = recipe_config("synthetic-smoke", parse_overrides(
        [*TINY, "epochs=1", "device=cpu", f"out_dir={out}", "run_name=src"]))
    train(cfg)
    return out / "src"


def prune_argv(source, out, name):
    return ["prune", str(source), "--target-macs", "0.5", "--epochs", "1", "--out", str(out),
            "--name", name, "device=cpu"]


def test_prune_command_gives_a_run_that_evaluates_exports_and_resumes(source, tmp_path,
                                                                     monkeypatch, capsys):
    assert main(prune_argv(source, tmp_path, "straight")) == 0
    run = tmp_path / "straight"
    record = json.loads((run / "prune.json").read_text())
    assert 0.4 < record["macs_after"] / record["macs_before"] <= 0.5
    assert record["params_after"] < record["params_before"]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["branch_widths"] == record["branch_widths"]
    assert main(["evaluate", str(run)]) == 0
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "p.onnx"),
                 "--fuse"]) == 0
    resume = interrupt(prune_argv(source, tmp_path, "broken"), monkeypatch, capsys, 1)
    assert resume[:2] == ["resnets", "train"]
    assert main(resume[1:]) == 0
    assert same_weights(run, tmp_path / "broken")


@pytest.mark.parametrize("argv, message", [
    (["--target-macs", "0"], "--target-macs"),
    (["--target-macs", "1.2"], "--target-macs"),
    (["--target-macs", "0.5", "--criterion", "random"], "--criterion"),
    (["--target-macs", "0.001"], "out of reach"),
    (["--target-macs", "0.5", "optim.lr=-1"], "optim.lr"),
    (["--target-macs", "0.5", "--name", "src"], "exists"),
])
def test_bad_prune_arguments_stop_in_one_line(source, capsys, argv, message):
    code = main(["prune", str(source), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not list(source.parent.glob("*.safetensors"))
