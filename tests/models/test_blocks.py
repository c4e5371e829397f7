"""Residual blocks: signatures that hold only what a block supports, forwards that compute
the papers' equations."""

from __future__ import annotations

import inspect

import pytest
import torch

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.blocks import (BasicBlock, BottleneckBlock, PreActBasicBlock,
                                   PreActBottleneckBlock, ZeroPadShortcut)

BOTTLENECK_ONLY = {"stride_in_1x1", "groups", "base_width"}


@pytest.mark.parametrize("block", [BasicBlock, BottleneckBlock, PreActBasicBlock,
                                   PreActBottleneckBlock])
def test_a_block_signature_lists_only_what_it_supports(block):
    params = inspect.signature(block).parameters
    assert not [p for p in params.values() if p.kind is p.VAR_KEYWORD]  # nothing swallowed
    assert {"shortcut", "attn_layer", "block_dropout", "drop_path"} <= params.keys()
    has_bottleneck = block.expansion == 4
    assert (BOTTLENECK_ONLY <= params.keys()) == has_bottleneck
    assert not (BOTTLENECK_ONLY & params.keys()) or has_bottleneck


@pytest.mark.parametrize("name", ["resnet18", "preact_resnet18", "resnet20"])
def test_a_bottleneck_option_on_basic_blocks_is_refused(name):
    with pytest.raises(ResnetsError, match=r"stride_in_1x1=True.*bottleneck") as err:
        create_model(name, stride_in_1x1=True)  # it used to be ignored without a word
    assert "\n" not in str(err.value)
    assert create_model(name, stride_in_1x1=False, groups=1, base_width=64) is not None


@pytest.mark.parametrize("shortcut", ["B", "A"])
def test_a_preact_block_is_x_plus_f_of_its_preactivation(shortcut):
    model = create_model("preact_resnet18", num_classes=2, shortcut=shortcut).eval()
    blk = model.layer2[0]  # changes stride and width: a projection, or zero padding
    x = torch.randn(2, blk.bn1.num_features, 8, 8)
    with torch.no_grad():
        pre = torch.relu(blk.bn1(x))
        if shortcut == "B":  # the 1x1 projection reads the pre-activation
            expected = blk.branch(pre) + blk.downsample(pre)
        else:  # option A pads x itself
            assert isinstance(blk.downsample, ZeroPadShortcut)
            expected = blk.branch(pre) + blk.downsample(x)
        torch.testing.assert_close(blk(x), expected)
