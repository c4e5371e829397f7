"""Architecture options: output stride (dilation), shortcuts A/B/C/none, stride_in_1x1,
zero_init_residual and activation checkpointing."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import resnets.models.base as base
from resnets.errors import ResnetsError
from resnets.models import ZeroPadShortcut, create_model
from resnets.models.summary import count_params

RES = 64


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"{stage}.{i}", blk) for stage in model.stage_names
            for i, blk in enumerate(getattr(model, stage))]


# --- output stride -------------------------------------------------------------------------

GRID_MODELS = ["resnet18", "resnet50", "preact_resnet18", "preact_resnet50"]


@pytest.mark.parametrize("name", GRID_MODELS)
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_output_stride(name, output_stride, randomize_batchnorm):
    reference = randomize_batchnorm(create_model(name), RES)
    dilated = create_model(name, output_stride=output_stride).eval()
    dilated.load_state_dict(reference.state_dict(), strict=True)  # dilation adds no weights
    assert [f["reduction"] for f in dilated.feature_info] == [2] + [  # the stem, then stages
        min(r, output_stride) for r in (4, 8, 16, 32)]

    x = torch.randn(2, 3, RES, RES)
    with torch.no_grad():
        maps = dilated.forward_intermediates(x, intermediates_only=True)
        reference_maps = reference.forward_intermediates(x, intermediates_only=True)
    assert maps[-1].shape[-2:] == (RES // output_stride, RES // output_stride)
    for fmap, feat, ref_map, ref_feat in zip(maps, dilated.feature_info, reference_maps,
                                             reference.feature_info):
        assert fmap.shape[1:] == (feat["num_chs"], RES // feat["reduction"],
                                  RES // feat["reduction"])
        # A trous: the dilated net computes the strided net's outputs, and those between.
        step = ref_feat["reduction"] // feat["reduction"]
        torch.testing.assert_close(fmap[:, :, ::step, ::step], ref_map,
                                   rtol=1e-4, atol=1e-4)
        if step > 1:
            assert not torch.allclose(fmap[:, :, 1::step, 1::step], ref_map, atol=1e-2)


def test_dilation_of_the_stages():
    model = create_model("resnet50", output_stride=8)
    # DeepLab's convention: a stage that stops striding dilates by the stride it dropped,
    # its first block still using the previous stage's dilation.
    # stage: (stride of the first block, its dilation, dilation of the other blocks)
    expected = {"layer1": (1, 1, 1), "layer2": (2, 1, 1), "layer3": (1, 1, 2),
                "layer4": (1, 2, 4)}
    for stage, (stride, first, rest) in expected.items():
        convs = [blk.conv2 for blk in getattr(model, stage)]
        assert convs[0].stride == (stride, stride) and convs[0].dilation == (first, first)
        assert convs[0].padding == convs[0].dilation  # keeps the size
        assert all(c.dilation == (rest, rest) and c.stride == (1, 1) for c in convs[1:])


@pytest.mark.parametrize("name,output_stride", [("resnet18", 12), ("resnet18", 64),
                                                ("resnet20", 8), ("preact_resnet50", 2)])
def test_impossible_output_stride(name, output_stride):
    with pytest.raises(ResnetsError, match=f"output_stride={output_stride}") as err:
        create_model(name, output_stride=output_stride)
    assert "\n" not in str(err.value)


def test_cifar_output_stride():
    model = create_model("resnet20", output_stride=2).eval()
    assert [f["reduction"] for f in model.feature_info] == [1, 1, 2, 2]
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 16, 16)).shape == (1, 64, 8, 8)


# --- shortcuts -----------------------------------------------------------------------------

def zero_pad_by_convolution(x: torch.Tensor, out_chs: int, stride: int) -> torch.Tensor:
    """Option A written as a fixed 1x1 convolution: [identity; zeros], strided."""
    in_chs = x.shape[1]
    weight = torch.zeros(out_chs, in_chs, 1, 1)
    weight[torch.arange(in_chs), torch.arange(in_chs)] = 1.0
    return F.conv2d(x, weight, stride=stride)


@pytest.mark.parametrize("name,kwargs", [("resnet20", {}), ("resnet18", {"shortcut": "A"}),
                                         ("resnet50", {"shortcut": "zero_pad"})])
def test_option_a_pads_with_zeros_and_has_no_parameters(name, kwargs):
    model = create_model(name, **kwargs).eval()
    assert not [n for n, _ in model.named_parameters() if "downsample" in n]
    padded = 0
    for _, blk in blocks(model):
        if blk.downsample is None:
            continue
        assert isinstance(blk.downsample, ZeroPadShortcut)
        stride = max(*blk.conv1.stride, *blk.conv2.stride)
        x = torch.relu(torch.randn(2, blk.conv1.in_channels, 8, 8))
        out_chs = blk.bn2.num_features if not hasattr(blk, "bn3") else blk.bn3.num_features
        expected = zero_pad_by_convolution(x, out_chs, stride)
        assert torch.equal(blk.shortcut(x), expected)
        assert (blk.shortcut(x)[:, x.shape[1]:] == 0).all()
        with torch.no_grad():
            torch.testing.assert_close(blk(x), torch.relu(blk.branch(x) + expected))
        padded += 1
    assert padded == (2 if name == "resnet20" else 3 if name == "resnet18" else 4)


def test_option_a_resnet_has_as_many_parameters_as_the_plain_net():
    assert count_params(create_model("resnet18", shortcut="A")) == count_params(
        create_model("plain18"))


def shape_changing_blocks(model: nn.Module, res: int) -> dict[str, bool]:
    """For each block, whether its output shape differs from its input shape (measured)."""
    changes, handles = {}, []
    for name, blk in blocks(model):
        handles.append(blk.register_forward_hook(
            lambda mod, args, out, name=name: changes.__setitem__(
                name, args[0].shape != out.shape)))
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, res, res))
    for h in handles:
        h.remove()
    return changes


@pytest.mark.parametrize("name,res", [("resnet18", 64), ("resnet50", 64),
                                      ("preact_resnet50", 64), ("preact_resnet110", 16)])
def test_option_b_projects_only_where_the_shape_changes(name, res):
    model = create_model(name, shortcut="B")
    changes = shape_changing_blocks(model, res)
    assert any(changes.values()) and not all(changes.values())
    for bname, blk in blocks(model):
        assert (blk.downsample is not None) == changes[bname], bname
        if blk.downsample is not None:
            assert isinstance(blk.downsample[0], nn.Conv2d)
            assert blk.downsample[0].kernel_size == (1, 1)


def test_option_c_projects_everywhere():
    b = create_model("resnet18", shortcut="B")
    c = create_model("resnet18", shortcut="C")
    assert all(blk.downsample is not None for _, blk in blocks(c))
    # The extra projections (1x1 conv + BN) sit on the identity-shaped blocks.
    identity_widths = [64, 64, 128, 256, 512]
    extra = sum(w * w + 2 * w for w in identity_widths)
    assert count_params(c) == count_params(b) + extra


@pytest.mark.parametrize("residual,plain,res", [("resnet20", "plain20", 16),
                                                ("resnet34", "plain34", 32)])
def test_plain_nets_have_no_shortcut(residual, plain, res, randomize_batchnorm):
    kwargs = {"shortcut": "A"} if residual == "resnet34" else {}
    res_net = randomize_batchnorm(create_model(residual, **kwargs), res)
    plain_net = create_model(plain).eval()
    plain_net.load_state_dict(res_net.state_dict(), strict=True)
    assert all(blk.downsample is None and not blk.residual for _, blk in blocks(plain_net))
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        assert not torch.allclose(plain_net(x), res_net(x), atol=1e-3)
        blk = plain_net.layer2[0]
        h = torch.relu(torch.randn(2, blk.conv1.in_channels, 8, 8))
        torch.testing.assert_close(blk(h), torch.relu(blk.branch(h)))


@pytest.mark.parametrize("name", ["resnet20", "plain20", "preact_resnet110", "resnet50"])
def test_shortcut_option_overrides_the_default(name):
    model = create_model(name, shortcut="C")
    assert all(blk.shortcut_kind == "C" and blk.residual for _, blk in blocks(model))


# --- stride_in_1x1 -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet50", "preact_resnet50"])
def test_stride_in_1x1(name):
    v15 = create_model(name)
    original = create_model(name, stride_in_1x1=True)
    assert count_params(v15) == count_params(original)
    strided = 0
    for (_, a), (_, b) in zip(blocks(v15), blocks(original)):
        stride = max(a.conv2.stride)
        assert a.conv1.stride == (1, 1) and a.conv2.stride == (stride, stride)
        assert b.conv1.stride == (stride, stride) and b.conv2.stride == (1, 1)
        strided += stride > 1
    assert strided == 3
    original.load_state_dict(v15.state_dict(), strict=True)
    x = torch.randn(2, 3, RES, RES)
    with torch.no_grad():
        out_v15, out_original = v15.eval()(x), original.eval()(x)
    assert out_v15.shape == out_original.shape
    assert not torch.allclose(out_v15, out_original, atol=1e-4)


# --- zero_init_residual --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet20", "cifar_resnet"])
@pytest.mark.parametrize("train", [True, False])
def test_zero_init_residual_starts_blocks_as_identities(name, train):
    model = create_model(name, zero_init_residual=True).train(train)
    for bname, blk in blocks(model):
        last_bn = blk.bn3 if hasattr(blk, "bn3") else blk.bn2
        assert (last_bn.weight == 0).all(), bname
        assert (blk.bn1.weight == 1).all(), bname  # only the last BN is zeroed
        x = torch.randn(2, blk.conv1.in_channels, 8, 8)
        with torch.no_grad():
            torch.testing.assert_close(blk(x), torch.relu(blk.shortcut(x)))
    default = create_model(name)
    blk = default.layer1[0]
    x = torch.randn(2, blk.conv1.in_channels, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(blk(x), torch.relu(blk.shortcut(x)))


def test_zero_init_residual_refused_for_preactivation():
    with pytest.raises(ResnetsError, match="zero_init_residual") as err:
        create_model("preact_resnet18", zero_init_residual=True)
    assert "\n" not in str(err.value)


# --- activation checkpointing --------------------------------------------------------------

def train_step(model: nn.Module, x: torch.Tensor, target: torch.Tensor):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    out = model(x)
    F.cross_entropy(out, target).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    opt.step()
    return out.detach(), grads


def stage_calls(model: nn.Module) -> list[int]:
    """Forward calls of the first block (checkpointing recomputes block by block)."""
    calls = [0]
    model.layer1[0].register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("name,res", [("resnet20", 16), ("preact_resnet18", 32),
                                      ("resnet50", 32)])
def test_grad_checkpointing_changes_nothing_but_memory(name, res):
    plain = create_model(name)
    ckpt = create_model(name, grad_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict(), strict=True)
    plain_calls, ckpt_calls = stage_calls(plain), stage_calls(ckpt)
    x = torch.randn(4, 3, res, res)
    target = torch.randint(0, plain.num_classes, (4,))
    out_plain, grads_plain = train_step(plain, x, target)
    out_ckpt, grads_ckpt = train_step(ckpt, x, target)
    assert plain_calls == [1] and ckpt_calls == [2]  # the stage really was recomputed
    torch.testing.assert_close(out_ckpt, out_plain, rtol=1e-6, atol=1e-6)
    for n in grads_plain:
        torch.testing.assert_close(grads_ckpt[n], grads_plain[n], rtol=1e-5, atol=1e-6)
    state_plain, state_ckpt = plain.state_dict(), ckpt.state_dict()
    for key, value in state_plain.items():
        if key.endswith("num_batches_tracked"):
            assert state_ckpt[key].item() == value.item() == 1, key
        else:  # running statistics and the updated weights
            torch.testing.assert_close(state_ckpt[key], value, rtol=1e-5, atol=1e-6)
    # Evaluation does not recompute anything.
    with torch.no_grad():
        ckpt.eval()(x)
    assert ckpt_calls == [3]


def test_running_stats_would_double_count_without_freezing(monkeypatch):
    # Shows that the comparison above can fail: recomputation without frozen running
    # statistics updates every BN of a checkpointed stage twice.
    monkeypatch.setattr(base, "frozen_running_stats", lambda module: contextlib.nullcontext())
    model = create_model("resnet20", grad_checkpointing=True)
    reference = copy.deepcopy(model)
    reference.set_grad_checkpointing(False)
    x, target = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    train_step(model, x, target)
    train_step(reference, x, target)
    assert model.layer1[0].bn1.num_batches_tracked.item() == 2
    assert model.bn1.num_batches_tracked.item() == 2  # the stem is checkpointed too
    assert not torch.allclose(model.layer1[0].bn1.running_mean,
                              reference.layer1[0].bn1.running_mean)
