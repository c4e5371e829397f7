"""The vision transformers: timm's parameter counts and outputs with the same weights, the
blocks' equations, residual=False, the position embedding at other sizes, the hybrid."""

from __future__ import annotations

import pytest
import timm
import torch

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.summary import count_params
from resnets.models.vit import Block, VisionTransformer


def timm_twin(name: str, **options) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Ours and timm's ``name``, ours holding timm's (random) weights, both in eval mode."""
    ours = create_model(name).eval()
    theirs = timm.create_model(name, pretrained=False, **options).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)  # the same names and shapes
    return ours, theirs


@pytest.mark.parametrize("name,params", [("vit_tiny_patch16_224", 5_717_416),
                                         ("vit_small_patch16_224", 22_050_664)])
def test_parameter_counts_equal_timms(name, params):
    ours = create_model(name)
    assert count_params(ours) == count_params(timm.create_model(name)) == params


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224",
                                  pytest.param("vit_small_patch16_224", marks=pytest.mark.slow)])
def test_outputs_equal_timms_with_the_same_weights(name):
    ours, theirs = timm_twin(name)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x),
                                   rtol=1e-4, atol=1e-5)
    assert expected.abs().max() > 0.1  # large enough for the tolerance to mean something


def test_intermediates_and_other_sizes_equal_timms():
    """forward_intermediates as timm's (NCHW and NLC, with the final norm), and a 96x96 input
    resamples the position embedding as timm's dynamic_img_size does."""
    ours, theirs = timm_twin("vit_tiny_patch16_224", dynamic_img_size=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        for fmt in ("NCHW", "NLC"):
            final, maps = ours.forward_intermediates(x, indices=(2, 11), norm=True,
                                                     output_fmt=fmt)
            their_final, their_maps = theirs.forward_intermediates(x, indices=(2, 11),
                                                                   norm=True, output_fmt=fmt)
            torch.testing.assert_close(final, their_final, rtol=1e-4, atol=1e-5)
            for mine, their in zip(maps, their_maps, strict=True):
                torch.testing.assert_close(mine, their, rtol=1e-4, atol=1e-5)
        assert maps[0].shape == (2, 36, 192)  # 6x6 patch tokens, the class token apart
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


def test_block_forward_is_the_equations():
    torch.manual_seed(0)
    block = Block(32, 4, 64).eval()
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        h = x + block.attn(block.norm1(x))
        torch.testing.assert_close(block(x), h + block.mlp(block.norm2(h)))
        block.residual = False
        torch.testing.assert_close(block(x), block.mlp(block.norm2(block.attn(block.norm1(x)))))
    attention_only = Block(32, 4, 0)
    assert attention_only.mlp is None and attention_only.norm2 is None


def test_residual_false_keeps_the_weights_and_removes_the_skips():
    torch.manual_seed(0)
    skips = create_model("vit_digits", depth=3).eval()
    plain = create_model("vit_digits", depth=3, residual=False).eval()
    plain.load_state_dict(skips.state_dict(), strict=True)  # the same parameters
    assert all(not b.residual for b in plain.blocks) and all(b.residual for b in skips.blocks)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        tokens = plain.embed_tokens(x)
        for block in plain.blocks:  # each block without its skips, by hand
            tokens = block.mlp(block.norm2(block.attn(block.norm1(tokens))))
        torch.testing.assert_close(plain.forward_features(x), plain.norm(tokens))
        assert not torch.allclose(plain(x), skips(x))


def test_the_training_configs_shortcut_none_is_residual_false():
    assert not any(b.residual for b in create_model("vit_digits", shortcut="none").blocks)
    with pytest.raises(ResnetsError, match="skips are identities.*'B' does not apply"):
        create_model("vit_digits", shortcut="B")


def test_options_and_their_errors():
    model = create_model("vit_digits", depth=2, mlp_ratio=0, num_classes=4, in_chans=1)
    assert len(model.blocks) == 2 and all(b.mlp is None for b in model.blocks)
    assert model(torch.randn(3, 1, 16, 16)).shape == (3, 4)
    assert model.cls_token is None  # mean pooling
    for options, message in [({"global_pool": "max"}, "global_pool must be one of"),
                             ({"depth": 0}, "depth must be a positive integer"),
                             ({"mlp_ratio": -1}, "mlp_ratio must be >= 0")]:
        with pytest.raises(ResnetsError, match=message):
            create_model("vit_digits", **options)
    for options, message in [({"num_heads": 3}, "does not split into 3 attention heads"),
                             ({"img_size": 18}, "not a multiple of the patch stride 4")]:
        with pytest.raises(ResnetsError, match=message):
            VisionTransformer(**{"img_size": 16, "patch_size": 4, "embed_dim": 64, **options})
    with pytest.raises(ResnetsError, match="fixes 'depth'"):
        create_model("vit_tiny_patch16_224", depth=3)


def test_hybrid_tokens_come_from_resnet50_stage3():
    model = create_model("vit_small_resnet50_s16_224", num_classes=5).eval()
    embed = model.patch_embed
    assert embed.reduction == 16 and embed.proj.kernel_size == (1, 1)
    assert embed.proj.in_channels == 1024  # ResNet-50's layer3
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert embed.backbone(x).shape == (1, 1024, 4, 4)
        assert model.forward_features(x).shape == (1, 1 + 16, 384)
        assert model(x).shape == (1, 5)


def test_pruned_and_checkpointed_forwards_agree():
    torch.manual_seed(0)
    model = create_model("vit_digits", depth=4, drop_path_rate=0.1)
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(1)
    model(x).sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing()
    torch.manual_seed(1)  # the same paths dropped
    model(x).sum().backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], msg=name)
    model.eval()
    with torch.no_grad():
        maps = model.forward_intermediates(x, intermediates_only=True)
        assert model.prune_intermediate_layers((1,)) == [1]
        assert len(model.blocks) == 2
        torch.testing.assert_close(model.forward_intermediates(x, indices=(1,),
                                                               intermediates_only=True)[0],
                                   maps[1])
    with pytest.raises(ResnetsError, match="pruned"):
        model.forward_intermediates(x, indices=(3,))
