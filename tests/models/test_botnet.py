"""BoTNet: the relative-position self-attention equals timm's BottleneckAttn given the same
weights, the blocks sit where the paper puts them, and the parameter count adds up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.botnet import BotBlock, RelPosSelfAttention, relative_index
from resnets.models.summary import count_params

timm_attn = pytest.importorskip("timm.layers.bottleneck_attn")


def timm_twin(ours: RelPosSelfAttention, size: int) -> nn.Module:
    """timm's layer for a ``size`` x ``size`` map, holding our weights (the central part of
    our position tables when ``size`` is smaller than ours)."""
    dim = ours.qkv.in_channels
    theirs = timm_attn.BottleneckAttn(dim, feat_size=(size, size), num_heads=ours.heads)
    keep = slice(ours.feat_size - size, ours.feat_size + size - 1)  # offsets -(s-1)..s-1
    theirs.load_state_dict({"qkv.weight": ours.qkv.weight,
                            "pos_embed.height_rel": ours.rel_height[keep],
                            "pos_embed.width_rel": ours.rel_width[keep]})
    return theirs


@pytest.mark.parametrize("size", [7, 4])
def test_attention_equals_timm(size):
    ours = RelPosSelfAttention(64, feat_size=7, heads=4)
    theirs = timm_twin(ours, size)
    x = torch.randn(2, 64, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_attention_depends_on_relative_position_only():
    attn = RelPosSelfAttention(32, feat_size=5, heads=2)
    with torch.no_grad():
        attn.rel_height.normal_(0, 1)
        attn.rel_width.normal_(0, 1)
    x = torch.randn(1, 32, 5, 5)
    # No position in the values: a map constant over positions stays constant, and
    # shifting every token's content is not equivariant (positions matter).
    with torch.no_grad():
        constant = attn(x.mean(dim=(2, 3), keepdim=True).expand(-1, -1, 5, 5).contiguous())
        assert torch.allclose(constant, constant[..., :1, :1].expand_as(constant), atol=1e-5)
        shifted = attn(torch.roll(x, 1, dims=3))
        assert not torch.allclose(torch.roll(attn(x), 1, dims=3), shifted, atol=1e-3)
    assert relative_index(3, 2).tolist() == [[1, 2, 2], [0, 1, 2], [0, 0, 1]]  # clipped


def test_botnet50_puts_attention_in_c5_with_pooling_after_it():
    with torch.device("meta"):
        model = create_model("botnet50")
    assert all(isinstance(b, BotBlock) for b in model.layer4)
    assert not any(isinstance(m, BotBlock) for m in model.layer3.modules())
    first, second = model.layer4[0], model.layer4[1]
    assert first.attn.feat_size == 14 and second.attn.feat_size == 7  # at 224x224
    assert isinstance(first.pool, nn.AvgPool2d) and isinstance(second.pool, nn.Identity)
    assert first.attn.heads == 4 and first.attn.dim_head == 128
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():  # the same stages, smaller
        maps = create_model("botnet26").forward_intermediates(x, intermediates_only=True)
    assert [m.shape[-1] for m in maps] == [112, 56, 28, 14, 7]


def test_botnet50_count_is_resnet50_with_attention_for_the_c5_convolutions():
    with torch.device("meta"):
        bot, resnet = create_model("botnet50"), create_model("resnet50")
    conv3x3, qkv = 512 * 512 * 9, 3 * 512 * 512
    positions = 2 * 27 * 128 + 2 * (2 * 13 * 128)  # 14x14 for the first block, then 7x7
    assert count_params(bot) == count_params(resnet) - 3 * (conv3x3 - qkv) + positions
    # The paper gives BoT50 20.8M parameters: our count without the position tables
    # (20,838,440); with them it is 20,852,008.
    assert f"{(count_params(bot) - positions) / 1e6:.1f}M" == "20.8M"


def test_img_size_sets_the_attention_size_and_is_checked():
    model = create_model("botnet26", img_size=96, num_classes=5)
    assert [b.attn.feat_size for b in model.layer4] == [6, 3]
    assert model(torch.randn(1, 3, 96, 96)).shape == (1, 5)
    with pytest.raises(ResnetsError, match="multiple of 32"):
        create_model("botnet26", img_size=100)
    with pytest.raises(ResnetsError, match="unknown option 'img_sise'.*heads, img_size"):
        create_model("botnet26", img_sise=256)
