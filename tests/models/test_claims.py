"""The architecture claims of docs/claims.md, measured on the zoo: depth as the papers count
it, what identity shortcuts cost, and ResNet-34 against VGG-19."""

from __future__ import annotations

import functools
import re

import pytest
import torch
import torchvision
from torch import nn

from resnets.models import create_model, list_models, model_info
from resnets.models.blocks import BasicBlock
from resnets.models.summary import (count_additions, count_macs, count_params,
                                    count_weighted_layers)

# Every registered ResNet, plain and pre-activation net whose name states its depth.
DEPTH_NAMED = [n for f in ("resnet", "plain", "preact") for n in list_models(family=f)
               if re.search(r"\d+$", n)]


def on_meta(name: str, **options) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **options)


@functools.lru_cache(maxsize=None)
def default_on_meta(name: str) -> nn.Module:
    """Each default model built once for all tests (ResNet-1202 takes seconds to build)."""
    return on_meta(name)


def residual_blocks(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if getattr(m, "residual", False)]


def test_every_depth_of_the_registry_is_covered():
    assert {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet20",
            "resnet110", "resnet1202", "plain34", "preact_resnet1001"} <= set(DEPTH_NAMED)


@pytest.mark.parametrize("name", DEPTH_NAMED)
def test_weighted_layers_equal_the_depth_in_the_name(name):
    depth = int(re.search(r"(\d+)$", name).group(1))
    assert count_weighted_layers(default_on_meta(name)) == depth


def test_weighted_layers_leave_out_projection_shortcuts():
    for shortcut in ("A", "B", "C"):  # C puts a 1x1 projection on all 16 blocks
        assert count_weighted_layers(on_meta("resnet34", shortcut=shortcut)) == 34
    projections = [m for name, m in on_meta("resnet34", shortcut="C").named_modules()
                   if name.endswith("downsample.0")]
    assert len(projections) == 16
    # torchvision names its projections the same way, and VGG-19 has no shortcut at all.
    with torch.device("meta"):
        assert count_weighted_layers(torchvision.models.resnet50()) == 50
        assert count_weighted_layers(torchvision.models.vgg19()) == 19


def test_resnet34_has_16_residual_blocks_not_34():
    model = on_meta("resnet34")
    blocks = residual_blocks(model)
    assert len(blocks) == 16 and all(isinstance(b, BasicBlock) for b in blocks)
    convs_in_blocks = sum(isinstance(m, nn.Conv2d) for b in blocks
                          for name, m in b.named_modules() if "downsample" not in name)
    assert convs_in_blocks == 32  # + the 7x7 stem + the classifier = 34 weighted layers


@pytest.mark.parametrize("residual, plain", [("resnet34", "plain34"), ("resnet20", "plain20")])
def test_identity_shortcuts_add_no_parameters_and_no_macs(residual, plain):
    parameter_free, plain_net = on_meta(residual, shortcut="A"), default_on_meta(plain)
    size = model_info(plain).input_size
    assert count_params(parameter_free) == count_params(plain_net)
    assert count_macs(parameter_free, size) == count_macs(plain_net, size)
    # Projections (option B, where the shape changes) are the only shortcut parameters.
    projected = on_meta(residual, shortcut="B")
    extra = sum(p.numel() for name, p in projected.named_parameters() if "downsample" in name)
    assert extra > 0
    assert count_params(projected) - count_params(plain_net) == extra


def test_additions_are_one_per_element_of_each_residual_output():
    model = create_model("resnet18", num_classes=10).eval()
    sizes = []
    hooks = [b.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
             for b in residual_blocks(model)]
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert len(sizes) == 8
    assert count_additions(model, 64) == sum(sizes)
    assert count_additions("resnet18", 64, num_classes=10) == sum(sizes)
    assert count_additions("plain34") == 0
    with torch.device("meta"):
        assert count_additions(torchvision.models.vgg19(), 224) == 0


# ResNet-1202 is ResNet-110 with more of the same blocks (the same fraction to 0.2%), and
# counting it is slow: it is left out here.
@pytest.mark.parametrize("name", [n for n in list_models("resnet*", family="resnet")
                                  if n != "resnet1202"])
def test_shortcut_additions_are_under_one_percent_of_the_macs(name):
    model, size = default_on_meta(name), model_info(name).input_size
    additions, macs = count_additions(model, size), count_macs(model, size)
    assert 0 < additions < 0.01 * macs


def test_resnet34_costs_a_fifth_of_vgg19():
    with torch.device("meta"):
        vgg19 = torchvision.models.vgg19()
    vgg_macs, resnet_macs = count_macs(vgg19, 224), count_macs("resnet34")
    assert vgg_macs / resnet_macs > 5
    # The paper's figures (He et al. 2015, Fig. 3 and Table 1) to their precision.
    assert round(vgg_macs / 1e9, 1) == 19.6
    assert abs(resnet_macs / 1e9 - 3.6) < 0.1
