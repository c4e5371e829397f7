"""Every registered model: builds, right shapes, finite outputs, gradients everywhere; the
parameter and MAC counts published by the papers and torchvision; the registry's errors."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torch import nn

import resnets
from resnets.errors import ResnetsError
from resnets.models import create_model, list_models, model_info, register_model
from resnets.models.gated import gated_blocks
from resnets.models.summary import count_macs, count_params

ALL_MODELS = list_models(modality="image", task="classification")  # the rest: own tests


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def small_resolution(name: str) -> int:
    """Smallest input keeping every stage at least 1x1 (ImageNet) or 2x2 (CIFAR)."""
    return 32 if model_info(name).input_size == 224 else 8


def test_registry_covers_every_family_and_paper_model():
    families = {model_info(n).family for n in ALL_MODELS}
    assert families == {"resnet", "plain", "preact", "wrn", "densenet", "resnext", "senet",
                        "botnet", "vit", "gated"}
    for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet20",
                 "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202", "plain20",
                 "plain56", "plain110", "preact_resnet164", "preact_resnet1001", "wrn_28_10",
                 "wrn_40_4", "wrn_16_8", "cifar_wrn", "wide_resnet50_2", "wide_resnet101_2",
                 "densenet_bc_100_12", "densenet_bc_250_24", "densenet_bc_190_40",
                 "densenet121", "densenet169", "densenet201", "densenet161", "resnext50_32x4d",
                 "resnext101_32x8d", "se_resnet50", "vit_tiny_patch16_224",
                 "vit_small_patch16_224", "vit_small_resnet50_s16_224", "vit_digits"]:
        assert name in ALL_MODELS
    assert list_models("resnet1*") == ["resnet18", "resnet101", "resnet110", "resnet110_gated",
                                       "resnet152", "resnet1202"]


def heavy(name: str) -> bool:
    """The 100-layer-plus and wide ImageNet members: each family keeps a smaller one in the
    quick suite (ResNet-50, SE-ResNet-50, ResNeXt-50, WRN-28-10), these run with -m slow."""
    return bool(re.search(r"(101|152|200|1001|1202)", name)) or name.startswith("wide_resnet")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if heavy(n) else n
                                  for n in ALL_MODELS])
def test_forward_backward_and_feature_info(name):
    info = model_info(name)
    res = small_resolution(name)
    model = create_model(name)  # training mode: BN uses batch statistics
    x = torch.randn(2, 3, res, res, requires_grad=True)
    feats, maps = model.forward_intermediates(x)
    logits = model.forward_head(feats)
    assert logits.shape == (2, info.num_classes)
    assert torch.isfinite(logits).all()

    # feature_info describes the maps that forward_intermediates really returns.
    reductions = [f["reduction"] for f in model.feature_info]  # the stem's first
    if info.family == "vit":  # one point per transformer block, all at the patch stride
        assert len(maps) == len(model.feature_info) == len(model.blocks)
        assert reductions == [16 if info.input_size == 224 else 4] * len(maps)
    else:
        assert len(maps) == len(model.feature_info) == (5 if info.input_size == 224 else 4)
        assert reductions == ([2, 4, 8, 16, 32] if info.input_size == 224 else [1, 1, 2, 4])
    for fmap, feat in zip(maps, model.feature_info):
        assert fmap.shape == (2, feat["num_chs"], res // feat["reduction"],
                              res // feat["reduction"])
        assert isinstance(model.get_submodule(feat["module"]), nn.Module)
    assert maps[-1].shape[1] == model.num_features

    loss = (logits * torch.randn_like(logits)).sum()
    loss.backward()
    # A gated block whose gate skipped both images ran no convolution: nothing to learn there.
    skipped = tuple(f"{n}.conv" for n, b in gated_blocks(model) if not b.decision.any())
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
        if p.ndim == 4 and not pname.startswith(skipped):  # nonzero gradients on the convs
            assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"
    assert first_conv(model).weight.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0

    # forward() is forward_head(forward_features()), and forward_intermediates agrees.
    model.eval()
    with torch.no_grad():
        out = model(x)
        feats = model.forward_features(x)
        torch.testing.assert_close(model.forward_head(feats), out)
        final, maps = model.forward_intermediates(x)
        torch.testing.assert_close(final, feats)
        normed = model.forward_intermediates(x, norm=True)[1][-1]
        if info.family == "vit":  # features are tokens; maps are the patch tokens as images
            feats = feats[:, model.num_prefix_tokens:].transpose(1, 2).reshape(normed.shape)
            assert not torch.allclose(maps[-1], feats)  # the final LayerNorm comes after
        elif getattr(model, "preact", False):  # the last point is before the final BN-ReLU
            assert not torch.allclose(maps[-1], feats)
        else:
            torch.testing.assert_close(maps[-1], feats)
        torch.testing.assert_close(normed, feats)


TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                      "resnet101": 44_549_160, "resnet152": 60_192_808,
                      "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
                      "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
                      "densenet121": 7_978_856, "densenet169": 14_149_480,
                      "densenet201": 20_013_928, "densenet161": 28_681_000}


@pytest.mark.parametrize("name,expected", TORCHVISION_PARAMS.items())
def test_imagenet_param_counts_equal_torchvision(name, expected):
    with torch.device("meta"):
        ours = create_model(name)
        theirs = getattr(torchvision.models, name)()
    assert count_params(ours) == expected
    assert count_params(theirs) == expected
    # Same names and shapes, not just the same total.
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()}


CIFAR_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962,
                1202: 19_421_274}


@pytest.mark.parametrize("depth,expected", CIFAR_PARAMS.items())
def test_cifar_param_counts(depth, expected):
    with torch.device("meta"):
        resnet = create_model(f"resnet{depth}")
        generic = create_model("cifar_resnet", depth=depth)
    assert count_params(resnet) == expected
    assert count_params(generic) == expected
    assert resnet.fc.out_features == 10
    if depth != 1202:  # the paper has no 1202-layer plain net
        with torch.device("meta"):
            plain = create_model(f"plain{depth}")
        assert count_params(plain) == expected


def rounds_to(count: int, published: str) -> bool:
    """Whether ``count`` printed like ``published`` ("0.27M", "1.7M") gives that string."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?M", published)
    assert match, published
    decimals = len(match.group(2) or "")
    return f"{count / 1e6:.{decimals}f}M" == published


PUBLISHED = [n for n in ALL_MODELS if model_info(n).published_params]


def test_paper_figures_registered():
    # Table 6 of He et al. 2015 and Table 2 of He et al. 2016 give these.
    assert {f"resnet{d}" for d in CIFAR_PARAMS} <= set(PUBLISHED)
    assert {"preact_resnet110", "preact_resnet164", "preact_resnet1001"} <= set(PUBLISHED)


@pytest.mark.parametrize("name", [n for n in PUBLISHED if n != "preact_resnet1001"])
def test_param_counts_round_to_the_papers(name):
    with torch.device("meta"):
        model = create_model(name)
    assert rounds_to(count_params(model), model_info(name).published_params)


def test_preact_resnet1001_paper_count_leaves_out_batchnorm():
    # The paper's 10.2M for ResNet-1001 matches the count without BN's scales and shifts
    # (10.18M); with them it is 10.33M. ResNet-164 rounds to 1.7M either way.
    with torch.device("meta"):
        model = create_model("preact_resnet1001")
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d)
             for p in m.parameters())
    assert rounds_to(count_params(model) - bn, model_info("preact_resnet1001").published_params)
    assert not rounds_to(count_params(model), "10.2M")


IMAGENET_MACS_G = {"resnet18": 1.81, "resnet34": 3.66, "resnet50": 4.09, "resnet101": 7.80,
                   "resnet152": 11.51}
CIFAR_MACS_M = {"resnet20": 40.6, "resnet56": 125.5, "resnet110": 252.9}


@pytest.mark.parametrize("name,gmacs", IMAGENET_MACS_G.items())
def test_imagenet_macs(name, gmacs):
    assert round(count_macs(name, 224) / 1e9, 2) == gmacs


@pytest.mark.parametrize("name,mmacs", CIFAR_MACS_M.items())
def test_cifar_macs(name, mmacs):
    assert round(count_macs(name, 32) / 1e6, 1) == mmacs
    plain = name.replace("resnet", "plain")  # option A adds no multiply-adds
    assert count_macs(plain, 32) == count_macs(name, 32)


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "preact_resnet164"])
def test_reset_classifier(name):
    res = small_resolution(name)
    model = create_model(name).eval()
    x = torch.randn(2, 3, res, res)
    model.reset_classifier(5)
    assert model(x).shape == (2, 5)
    model.reset_classifier(0)
    with torch.no_grad():
        pooled = model(x)
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    torch.testing.assert_close(pooled, expected)
    assert not any(n.startswith("fc.") for n, _ in model.named_parameters())


def test_reset_classifier_keeps_dtype():
    model = create_model("resnet20").to(torch.bfloat16)
    model.reset_classifier(5)
    assert model.fc.weight.dtype == torch.bfloat16
    assert model(torch.randn(2, 3, 8, 8, dtype=torch.bfloat16)).shape == (2, 5)


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "preact_resnet18", "plain20"])
@pytest.mark.parametrize("chans", [1, 5])
def test_in_chans(name, chans):
    res = small_resolution(name)
    model = create_model(name, num_classes=7, in_chans=chans).eval()
    assert model.conv1.weight.shape[1] == chans
    with torch.no_grad():
        out = model(torch.randn(2, chans, res, res))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    with pytest.raises(RuntimeError):  # a 3-channel image no longer fits
        model(torch.randn(2, 3, res, res))


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ResnetsError) as err:
        fn(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message and message.strip() == message
    return message


def test_unknown_model_names_the_closest():
    message = one_line_error(create_model, "resnet19")
    assert "'resnet19'" in message and "'resnet18'" in message
    assert "'resnet18'" in one_line_error(model_info, "ResNet18")
    assert "'preact_resnet164'" in one_line_error(create_model, "preact_resnet165")


@pytest.mark.parametrize("name,depth,rule", [("cifar_resnet", 21, "6n+2"),
                                             ("cifar_plain", 22, "6n+2"),
                                             ("cifar_resnet", 2, "6n+2"),
                                             ("cifar_preact_resnet", 165, "9n+2")])
def test_impossible_depth(name, depth, rule):
    message = one_line_error(create_model, name, depth=depth)
    assert str(depth) in message and rule in message


def test_unknown_option_names_the_closest():
    message = one_line_error(create_model, "resnet18", shortcuts="A")
    assert "'shortcuts'" in message and "'shortcut'" in message
    message = one_line_error(create_model, "resnet20", zero_init_residul=True)
    assert "'zero_init_residual'" in message


def test_valid_options_listed_are_the_builders_own():
    # resnet20's depth is fixed: "depth" is neither accepted nor suggested.
    message = one_line_error(create_model, "resnet20", depth=32)
    assert "'depth'" in message and "depth," not in message.split("valid options:")[1]
    message = one_line_error(create_model, "cifar_preact_resnet", bottlenek=False)
    assert "'bottleneck'" in message
    assert "depth" in one_line_error(create_model, "cifar_resnet", dept=20)


def test_fixed_option_is_refused():
    message = one_line_error(create_model, "resnet50", layers=(1, 1, 1, 1))
    assert "layers" in message


def test_bad_shortcut_lists_the_valid_ones():
    message = one_line_error(create_model, "resnet20", shortcut="D")
    assert "'D'" in message
    for valid in ("'A'", "'B'", "'C'", "'none'"):
        assert valid in message


def test_bad_numbers():
    assert "num_classes" in one_line_error(create_model, "resnet20", num_classes=-1)
    assert "drop_rate" in one_line_error(create_model, "resnet20", drop_rate=1.5)
    assert "in_chans" in one_line_error(create_model, "resnet20", in_chans=0)


def test_duplicate_registration_raises_and_keeps_the_original():
    original = model_info("resnet18").builder

    def resnet18(**options):
        raise AssertionError("must never be registered")

    with pytest.raises(ValueError, match="resnet18"):
        register_model(family="resnet", input_size=224, num_classes=1000,
                       reference="test")(resnet18)
    assert model_info("resnet18").builder is original
    assert "resnet18" in resnets.list_models()
