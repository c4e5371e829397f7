"""The variants: wide ResNets, ResNeXt, squeeze-and-excitation and DenseNets (structure,
counts, options, the DenseNet head and its memory-efficient mode), and their summary rows."""

from __future__ import annotations

import contextlib
import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resnets.models.densenet as densenet
from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.models import DenseNet, SqueezeExcite, create_model, model_info
from resnets.models.summary import count_params, model_rows
from resnets.train.setup import build_model
from resnets.train.recipes import RECIPES, recipe_config


def blocks(model: nn.Module) -> list[nn.Module]:
    return [blk for stage in model.stage_names for blk in getattr(model, stage)]


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ResnetsError) as err:
        fn(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- wide ResNets --------------------------------------------------------------------------

WRN_PARAMS = {(28, 10): 36_479_194, (40, 4): 8_949_210, (16, 8): 10_961_370}


@pytest.mark.parametrize("depth,k", WRN_PARAMS)
def test_wrn_counts_and_widths(depth, k):
    with torch.device("meta"):
        named = create_model(f"wrn_{depth}_{k}")
        generic = create_model("cifar_wrn", depth=depth, widen_factor=k)
    assert count_params(named) == count_params(generic) == WRN_PARAMS[depth, k]
    assert named.conv1.out_channels == 16
    n = (depth - 4) // 6
    assert [len(getattr(named, s)) for s in named.stage_names] == [n, n, n]
    assert [f["num_chs"] for f in named.feature_info] == [16, 16 * k, 32 * k, 64 * k]
    # Pre-activation basic blocks: the last BN-ReLU comes after the stages.
    assert all(type(blk).__name__ == "PreActBasicBlock" for blk in blocks(named))
    assert named.norm.num_features == 64 * k


@pytest.mark.parametrize("depth,k,convs", [(10, 1, 9), (16, 1, 15), (16, 2, 16), (22, 4, 22)])
def test_wrn_depth_counts_convolutions(depth, k, convs):
    # For k > 1 all three stages widen through a projection: d convolutions in all.
    model = create_model("cifar_wrn", depth=depth, widen_factor=k)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs


def test_wrn_dropout_sits_between_the_two_convolutions():
    model = create_model("cifar_wrn", depth=10, widen_factor=2, block_dropout=0.5)
    blk = model.layer2[0]
    seen = {}
    blk.act2.register_forward_hook(lambda m, args, out: seen.__setitem__("act", out.clone()))
    blk.conv2.register_forward_pre_hook(lambda m, args: seen.__setitem__("conv", args[0]))
    model.train()(torch.randn(4, 3, 16, 16))
    act, conv_in = seen["act"], seen["conv"]
    active = act > 0
    dropped = active & (conv_in == 0)
    kept = active & (conv_in != 0)
    torch.testing.assert_close(conv_in[kept], 2 * act[kept])  # scaled by 1 / (1 - 0.5)
    fraction = dropped.sum() / active.sum()
    assert 0.4 < fraction < 0.6


def test_wrn_default_dropout_is_the_papers_and_off_in_eval(randomize_batchnorm):
    model = create_model("wrn_16_8")
    assert all(blk.drop.p == 0.3 for blk in blocks(model))
    plain = create_model("wrn_16_8", block_dropout=0.0)
    assert all(isinstance(blk.drop, nn.Identity) for blk in blocks(plain))
    randomize_batchnorm(model, 16)
    plain.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), plain.eval()(x), rtol=0, atol=0)
        model.train()
        assert not torch.allclose(model(x), model(x))


@pytest.mark.parametrize("options,needle", [({"depth": 27}, "6n+4"), ({"depth": 4}, "6n+4"),
                                            ({"widen_factor": 0}, "widen_factor"),
                                            ({"block_dropout": 1.0}, "block_dropout")])
def test_wrn_errors(options, needle):
    assert needle in one_line_error(create_model, "cifar_wrn", **options)


def test_wrn_depth_and_width_fixed_by_name():
    assert "depth" in one_line_error(create_model, "wrn_28_10", depth=40)
    assert "base_width" in one_line_error(create_model, "wide_resnet50_2", base_width=64)


# --- ResNeXt and grouped, widened bottlenecks ----------------------------------------------

@pytest.mark.parametrize("name,groups,inner", [("resnext50_32x4d", 32, 128),
                                                ("resnext101_32x8d", 32, 256),
                                                ("wide_resnet50_2", 1, 128),
                                                ("resnet50", 1, 64)])
def test_bottleneck_inner_width_and_groups(name, groups, inner):
    with torch.device("meta"):
        model = create_model(name)
    conv = model.layer1[0].conv2
    assert conv.groups == groups
    assert conv.in_channels == conv.out_channels == inner
    assert model.layer1[0].conv3.out_channels == 256  # outputs keep ResNet's widths
    assert model.layer4[0].conv2.out_channels == inner * 8


def test_grouped_option_on_any_bottleneck_net():
    model = create_model("preact_resnet50", groups=32, base_width=4)
    assert model.layer2[1].conv2.groups == 32
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    message = one_line_error(create_model, "resnet18", groups=32)
    assert "groups=32" in message and "bottleneck" in message
    assert "groups" in one_line_error(create_model, "resnext50_32x4d", groups=64)


# --- squeeze-and-excitation ----------------------------------------------------------------

def se_params(channels: list[int], reduction: int = 16, bias: bool = True) -> int:
    """Two fully connected layers C -> C/r -> C per block (and their biases)."""
    return sum(2 * c * (c // reduction) + bias * (c // reduction + c) for c in channels)


def test_se_resnet50_count():
    with torch.device("meta"):
        se, plain = create_model("se_resnet50"), create_model("resnet50")
    widths = [blk.conv3.out_channels for blk in blocks(se)]
    assert len(widths) == 16
    assert count_params(se) - count_params(plain) == se_params(widths)
    assert count_params(se) == 28_088_024
    # Reduction ratio 16 with biases, as here, or without: both are the paper's 28.1M.
    assert round(count_params(se) / 1e6, 1) == 28.1
    without_bias = count_params(plain) + se_params(widths, bias=False)
    assert without_bias == 28_071_976 and round(without_bias / 1e6, 1) == 28.1
    assert model_info("se_resnet50").published_params == "28.1M"


@pytest.mark.parametrize("name,options", [("se_resnet50", {}), ("se_resnet18", {}),
                                          ("resnet20", {"attn_layer": "se"}),
                                          ("preact_resnet18", {"attn_layer": "se"}),
                                          ("se_resnext50_32x4d", {})])
def test_se_gates_the_branch_before_the_addition(name, options, randomize_batchnorm):
    model = randomize_batchnorm(create_model(name, **options), 32)
    seen = 0
    for blk in blocks(model):
        assert isinstance(blk.se, SqueezeExcite)
        assert blk.se.fc1.in_channels == blk.se.fc2.out_channels
        x = torch.randn(2, blk.conv1.in_channels if not blk.preact else blk.bn1.num_features,
                        8, 8)
        with torch.no_grad():
            pre = torch.relu(blk.bn1(x)) if blk.preact else x
            convs = blk.convs(pre)
            gate = blk.se.gate(convs)
            assert gate.shape == (2, convs.shape[1], 1, 1)
            assert ((gate >= 0) & (gate <= 1)).all() and gate.std() > 0.01
            torch.testing.assert_close(blk.branch(pre), convs * gate)
            if not blk.preact:
                expected = torch.relu(convs * gate + blk.shortcut(x))
                torch.testing.assert_close(blk(x), expected)
        seen += 1
    assert seen == len(blocks(model))


def test_se_changes_the_function_and_adds_only_its_layers(randomize_batchnorm):
    se = randomize_batchnorm(create_model("resnet20", attn_layer="se"), 16)
    plain = create_model("resnet20").eval()
    missing, unexpected = plain.load_state_dict(se.state_dict(), strict=False)
    assert not missing and unexpected and all(".se.fc" in k for k in unexpected)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(se(x), plain(x), atol=1e-3)


def test_se_with_zero_init_starts_as_identity():
    blk = create_model("se_resnet50", zero_init_residual=True).layer1[1]
    x = torch.randn(2, 256, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), torch.relu(x))


def test_se_errors():
    assert create_model("resnet20", attn_layer="cbam").layer1[0].se is not None
    message = one_line_error(create_model, "resnet20", attn_layer="cbma")
    assert "'cbma'" in message and "'se'" in message and "'cbam'" in message
    assert "se_reduction" in one_line_error(create_model, "resnet20", attn_layer="se",
                                            se_reduction=0)
    assert "attn_layer" in one_line_error(create_model, "se_resnet50", attn_layer=None)


# --- DenseNets -----------------------------------------------------------------------------

DENSENET_BC = {(100, 12): 769_162, (250, 24): 15_324_406, (190, 40): 25_624_430}


@pytest.mark.parametrize("depth,k", DENSENET_BC)
def test_densenet_bc_counts(depth, k):
    with torch.device("meta"):
        named = create_model(f"densenet_bc_{depth}_{k}")
        generic = create_model("cifar_densenet", depth=depth, growth_rate=k)
    assert count_params(named) == count_params(generic) == DENSENET_BC[depth, k]


def test_densenet_bc_channels_follow_growth_and_compression():
    model = create_model("densenet_bc_100_12")
    layers = (100 - 4) // 6  # 16 layers per block, each 1x1 and 3x3
    chs, expected = 2 * 12, []
    for i in range(3):
        block = getattr(model.features, f"denseblock{i + 1}")
        assert len(list(block.children())) == layers
        chs += layers * 12
        expected.append(chs)
        if i < 2:
            transition = getattr(model.features, f"transition{i + 1}")
            assert transition.conv.out_channels == chs // 2
            chs //= 2
    assert expected == [216, 300, 342]
    assert [f["num_chs"] for f in model.feature_info] == [24] + expected  # the stem first
    assert model.features.conv0.out_channels == 24 and model.features.conv0.kernel_size == (3, 3)
    assert model.classifier.in_features == 342 and model.num_features == 342
    assert not hasattr(model, "fc")


def test_densenet_head_surface():
    model = create_model("densenet_bc_100_12").eval()
    assert model.get_classifier() is model.classifier
    x = torch.randn(2, 3, 8, 8)
    model.reset_classifier(5)
    assert model.classifier.out_features == 5 and model(x).shape == (2, 5)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 342)
    model.reset_classifier(0)
    with torch.no_grad():
        pooled = model(x)
        features = model.forward_features(x)
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))
    assert not any(n.startswith("classifier.") for n, _ in model.named_parameters())
    assert isinstance(create_model("densenet121", num_classes=0).classifier, nn.Identity)


@pytest.mark.parametrize("options,needle", [({"depth": 101}, "6n+4"),
                                            ({"growth_rate": 0}, "growth_rate"),
                                            ({"compression": 0.0}, "compression"),
                                            ({"drop_path_rate": 0.1}, "drop_path_rate")])
def test_densenet_errors(options, needle):
    assert needle in one_line_error(create_model, "cifar_densenet", **options)


def test_densenet_refuses_zero_init_residual():
    """A DenseNet has no residual branch: the option is not in its signature at all."""
    assert "zero_init_residual" not in inspect.signature(DenseNet).parameters
    message = one_line_error(create_model, "densenet121", zero_init_residual=True)
    assert "unknown option 'zero_init_residual'" in message


def train_step(model: nn.Module, x: torch.Tensor, target: torch.Tensor):
    model.train()
    out = model(x)
    F.cross_entropy(out, target).backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def norm1_calls(model: DenseNet) -> list[int]:
    calls = [0]
    layer = model.features.denseblock2.denselayer2
    layer.norm1.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("name,options,recomputed", [
    ("cifar_densenet", {"depth": 22, "growth_rate": 8, "memory_efficient": True}, 2),
    ("cifar_densenet", {"depth": 22, "growth_rate": 8, "grad_checkpointing": True}, 2),
    ("cifar_densenet", {"depth": 22, "growth_rate": 8, "memory_efficient": True,
                        "grad_checkpointing": True}, 3)])
def test_memory_efficient_densenet_is_the_same_function(name, options, recomputed):
    res = 32
    plain = create_model(name, **{k: v for k, v in options.items()
                                  if k in ("depth", "growth_rate")})
    efficient = create_model(name, **options)
    efficient.load_state_dict(plain.state_dict(), strict=True)
    calls_plain, calls_efficient = norm1_calls(plain), norm1_calls(efficient)
    x = torch.randn(4, 3, res, res)
    target = torch.randint(0, plain.num_classes, (4,))
    out_plain, grads_plain = train_step(plain, x, target)
    out_efficient, grads_efficient = train_step(efficient, x, target)
    # The bottleneck really was recomputed (both mechanisms together: twice more).
    assert calls_plain == [1] and calls_efficient == [recomputed]
    torch.testing.assert_close(out_efficient, out_plain, rtol=1e-6, atol=1e-6)
    for n in grads_plain:
        torch.testing.assert_close(grads_efficient[n], grads_plain[n], rtol=1e-5, atol=1e-6)
    # Running statistics were updated once, as without recomputation.
    for key, value in plain.state_dict().items():
        if key.endswith("num_batches_tracked"):
            assert efficient.state_dict()[key].item() == value.item() == 1, key
        else:
            torch.testing.assert_close(efficient.state_dict()[key], value, rtol=1e-5,
                                       atol=1e-6)
    with torch.no_grad():  # nothing is recomputed without gradients
        efficient.eval()(x)
    assert calls_efficient == [recomputed + 1]


def test_memory_efficient_would_double_count_without_freezing(monkeypatch):
    # Shows that the comparison above can fail: recomputing the bottleneck in training mode
    # updates norm1's running statistics a second time unless they are restored.
    monkeypatch.setattr(densenet, "frozen_running_stats", lambda m: contextlib.nullcontext())
    model = create_model("cifar_densenet", depth=10, growth_rate=4, memory_efficient=True)
    train_step(model, torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    layer = model.features.denseblock1.denselayer1
    assert layer.norm1.num_batches_tracked.item() == 2
    assert layer.norm2.num_batches_tracked.item() == 1  # outside the recomputed part


def test_densenet_block_dropout():
    model = create_model("cifar_densenet", depth=10, growth_rate=4, block_dropout=0.5)
    x = torch.randn(2, 3, 8, 8)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


# --- the model table -----------------------------------------------------------------------

@pytest.mark.parametrize("pattern,family,arxiv", [("wrn_[14]*", "wrn", "1605.07146"),
                                                  ("wide_resnet50_2", "wrn", "1605.07146"),
                                                  ("densenet121", "densenet", "1608.06993"),
                                                  ("densenet_bc_100_12", "densenet",
                                                   "1608.06993"),
                                                  ("resnext50*", "resnext", "1611.05431"),
                                                  ("se_resnet50", "senet", "1709.01507")])
def test_summary_rows_and_cli_list_the_variants(pattern, family, arxiv, capsys):
    rows = model_rows(pattern)
    assert rows and all(r["family"] == family and arxiv in r["reference"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    for name, row in by_name.items():
        with torch.device("meta"):
            assert row["params"] == count_params(create_model(name))
        assert row["published_params"] == model_info(name).published_params
    assert main(["models", pattern]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in by_name) and out.count(arxiv) == 1


# --- the papers' recipes -------------------------------------------------------------------

VARIANT_RECIPES = [name for name in RECIPES if "-wrn-" in name or "-densenet-" in name]


def test_variant_recipes_follow_the_papers():
    assert len(VARIANT_RECIPES) == 12
    wrn = recipe_config("cifar100-wrn-28-10")
    assert (wrn.model.name, wrn.data.dataset, wrn.epochs, wrn.batch_size) == (
        "wrn_28_10", "cifar100", 200, 128)
    assert wrn.schedule.milestone_epochs == (60, 120, 160) and wrn.schedule.gamma == 0.2
    assert wrn.optim.weight_decay == 5e-4 and wrn.optim.nesterov and wrn.optim.lr == 0.1
    dense = recipe_config("cifar10-densenet-bc-100-12")
    assert (dense.model.name, dense.epochs, dense.batch_size) == ("densenet_bc_100_12", 300, 64)
    assert dense.schedule.milestone_epochs == (150, 225) and dense.schedule.gamma == 0.1
    assert dense.optim.weight_decay == 1e-4 and dense.optim.nesterov
    assert dense.optim.momentum == 0.9
    assert "1605.07146" in wrn.source and "1608.06993" in dense.source


@pytest.mark.parametrize("name", VARIANT_RECIPES)
def test_variant_recipes_build_their_models_as_the_engine_does(name):
    cfg = recipe_config(name)
    with torch.device("meta"):
        model = build_model(cfg, 100 if name.startswith("cifar100") else 10, 3,
                            torch.device("meta"))
    assert type(model).__name__ == ("ResNet" if "-wrn-" in name else "DenseNet")
    if "-wrn-" in name:  # the paper's dropout 0.3 comes with the model
        assert {blk.drop.p for blk in blocks(model)} == {0.3}
