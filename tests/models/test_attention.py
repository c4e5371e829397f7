"""CBAM, ECA, global context and SE equal timm's modules given the same weights; every block
family takes them through ``attn_layer``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.attention import Cbam, Eca, GlobalContext, eca_kernel_size
from resnets.models.layers import SqueezeExcite, make_attention
from resnets.models.summary import count_params

timm_layers = pytest.importorskip("timm.layers")
timm_cbam = pytest.importorskip("timm.layers.cbam")

# Our names -> timm's, where they differ (CBAM's spatial convolution is timm's ConvNormAct).
RENAMED = {"spatial.conv.weight": "spatial.conv.conv.weight"}


def timm_twin(kind: str, channels: int) -> nn.Module:
    """timm's module computing what ours of ``kind`` computes (settings: attention.py)."""
    if kind == "se":  # our SE's hidden width is C // 16 (floor), timm's rounds to 8s
        return timm_layers.SEModule(channels, rd_channels=channels // 16)
    if kind == "cbam":
        return timm_cbam.CbamModule(channels)
    if kind == "eca":
        return timm_layers.EcaModule(channels)
    return timm_layers.GlobalContext(channels, fuse_add=True, fuse_scale=False,
                                     rd_ratio=1 / 16)


def timm_name(key: str, kind: str) -> str:
    """The name timm gives our state-dict entry ``key`` of a ``kind`` module."""
    if key in RENAMED:
        return RENAMED[key]
    if key.startswith("spatial.bn."):
        return key.replace("spatial.bn.", "spatial.conv.bn.")
    if kind == "gc" and key.startswith(("fc1.", "norm.", "fc2.")):
        return "mlp_add." + key  # timm's ConvMlp: fc1, norm, act, fc2
    return key


@pytest.mark.parametrize("kind", ["se", "cbam", "eca", "gc"])
@pytest.mark.parametrize("channels", [24, 64, 256])
def test_equals_timm_with_the_same_weights(kind, channels):
    ours = make_attention(kind, channels, 16, nn.ReLU)
    theirs = timm_twin(kind, channels)
    gen = torch.Generator().manual_seed(channels)
    with torch.no_grad():  # random values everywhere (GC's last layer starts at zero)
        for p in list(ours.parameters()) + list(ours.buffers()):
            if p.dtype.is_floating_point:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen).abs() + 0.1
                        if p.ndim == 1 else torch.randn(p.shape, generator=gen) * 0.3)
    state = {timm_name(k, kind): v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)  # every tensor has its twin, same shapes
    ours.eval(), theirs.eval()
    x = torch.randn(3, channels, 9, 7, generator=gen)
    with torch.no_grad():
        out, expected = ours(x), theirs(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out, x, atol=1e-3)  # the module did something
    assert count_params(ours) == count_params(theirs)


def test_eca_kernel_grows_with_the_channels():
    assert [eca_kernel_size(c) for c in (16, 64, 256, 512, 1024, 2048)] == [3, 3, 5, 5, 5, 7]
    assert Eca(2048).conv.kernel_size == (7,)


FAMILIES = [("resnet20", {}), ("resnet18", {}), ("resnet50", {}), ("preact_resnet18", {}),
            ("cifar_preact_resnet", {"depth": 11}), ("wrn_16_8", {}),
            ("resnext50_32x4d", {}), ("cifar_resnet", {"depth": 8})]
MODULES = {"se": SqueezeExcite, "cbam": Cbam, "eca": Eca, "gc": GlobalContext}


@pytest.mark.parametrize("name,options", FAMILIES)
@pytest.mark.parametrize("kind", ["cbam", "eca", "gc"])
def test_every_block_family_takes_each_module(name, options, kind):
    with torch.device("meta"):
        model = create_model(name, attn_layer=kind, se_reduction=4, **options)
    blocks = [m for m in model.modules() if hasattr(m, "se") and hasattr(m, "residual")]
    assert blocks and all(isinstance(b.se, MODULES[kind]) for b in blocks)


@pytest.mark.parametrize("kind", ["cbam", "eca", "gc"])
def test_the_module_gates_the_branch_and_learns(kind):
    model = create_model("resnet20", attn_layer=kind, num_classes=3, se_reduction=4)
    plain = create_model("resnet20", num_classes=3)
    assert count_params(model) > count_params(plain)
    x = torch.randn(4, 3, 16, 16)
    model(x).sum().backward()
    for name, p in model.named_parameters():
        # a constant added to every position's attention logit leaves the softmax unchanged
        if ".se." in name and not name.endswith("conv_attn.bias"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gc_refuses_a_single_hidden_channel():
    with pytest.raises(ResnetsError, match="se_reduction <= 8") as err:
        create_model("resnet20", attn_layer="gc")  # 16 channels / 16
    assert "\n" not in str(err.value)


def test_unknown_attention_is_refused_in_one_line():
    with pytest.raises(ResnetsError) as err:
        create_model("resnet20", attn_layer="nonlocal")
    assert "'nonlocal'" in str(err.value) and "'cbam'" in str(err.value)
    assert "\n" not in str(err.value)


# ResNet-50's 16 residual branches end with 256 (3), 512 (4), 1024 (6), 2048 (3) channels.
WIDTHS = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3


def test_resnet50_param_counts_per_module():
    with torch.device("meta"):
        base = count_params(create_model("resnet50"))
        counts = {k: count_params(create_model("resnet50", attn_layer=k)) - base
                  for k in ("cbam", "eca", "gc")}
    # ECA: one kernel of k weights per block, k = 5, 5, 5, 7 by stage
    assert counts["eca"] == 3 * 5 + 4 * 5 + 6 * 5 + 3 * 7 == 86
    # CBAM: 2 C^2/16 (MLP, no biases) + 2*49 (7x7 conv) + 2 (BN) per block
    assert counts["cbam"] == sum(2 * c * c // 16 + 100 for c in WIDTHS)
    # GC r16: C+1 (attention) + (C+1) C/16 + 2 C/16 (LayerNorm) + (C/16+1) C per block
    assert counts["gc"] == sum(c + 1 + (c + 1) * (c // 16) + 2 * (c // 16) + (c // 16 + 1) * c
                               for c in WIDTHS)
    # CBAM-ResNet-50 is 28.09M in Woo et al. 2018, Table 4: the authors' MLP has biases
    # (nn.Linear), timm's and ours have none, which leaves 28.07M.
    biases = sum(c // 16 + c for c in WIDTHS)
    assert f"{(base + counts['cbam']) / 1e6:.2f}M" == "28.07M"
    assert f"{(base + counts['cbam'] + biases) / 1e6:.2f}M" == "28.09M"
