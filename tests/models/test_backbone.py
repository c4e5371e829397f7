"""Registry models as multi-scale backbones: shapes, frozen BN, trainable stages."""

import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.backbone import (FPNBackbone, RegistryBackbone, build_body,
                                     freeze_batchnorm, set_trainable_stages, stage_info)

# one cheap model per family, with its input side
FAMILIES = [("resnet", "resnet20", {}, 32), ("plain", "plain20", {}, 32),
            ("preact", "cifar_preact_resnet", {"depth": 11}, 32),
            ("resnext", "resnext50_32x4d", {}, 64), ("senet", "se_resnet18", {}, 64),
            ("wrn", "cifar_wrn", {"depth": 10, "widen_factor": 1}, 32),
            ("densenet", "cifar_densenet", {"depth": 10}, 32)]


@pytest.mark.parametrize("family,name,options,side", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_every_family_serves_its_feature_maps(family, name, options, side):
    body = create_model(name, num_classes=0, **options).eval()
    stages = len(stage_info(body))
    assert stages == len(body.feature_info) - 1  # the stem is no stage
    backbone = RegistryBackbone(body, {f"p{i}": i for i in range(stages)})
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        maps = backbone(x)
        # each stage's map, the last after the final norm of a pre-activation net
        expected = body.forward_intermediates(x, indices=list(range(1, stages + 1)), norm=True,
                                              intermediates_only=True)
        torch.testing.assert_close(maps[f"p{stages - 1}"], body.forward_features(x))
    assert list(maps) == [f"p{i}" for i in range(stages)]
    for got, want in zip(maps.values(), expected):
        torch.testing.assert_close(got, want)
    for info, feature in zip(stage_info(body), maps.values()):
        reduction = info["reduction"]
        assert feature.shape == (1, info["num_chs"], side // reduction, side // reduction)


def test_fpn_levels_share_the_channel_count():
    body = create_model("resnet18", num_classes=0).eval()
    fpn = FPNBackbone(body, 1, 32, LastLevelMaxPool()).eval()
    with torch.no_grad():
        levels = fpn(torch.randn(1, 3, 64, 64))
    assert [tuple(v.shape) for v in levels.values()] == [
        (1, 32, 8, 8), (1, 32, 4, 4), (1, 32, 2, 2), (1, 32, 1, 1)]
    assert fpn.out_channels == 32


def test_frozen_batchnorm_computes_what_the_trained_bn_computes_in_eval():
    model = create_model("resnet20", num_classes=0)
    for m in model.modules():  # give every BN non-trivial statistics and affine values
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model.eval().forward_features(x)
        freeze_batchnorm(model).train()  # training mode must not matter any more
        got = model.forward_features(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in model.modules()) == 19
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def _trainable_prefixes(model):
    return sorted({n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad})


def test_trainable_layers_count_from_the_deepest_stage():
    model = create_model("resnet18", num_classes=0)
    expected = {0: [], 1: ["layer4"], 3: ["layer2", "layer3", "layer4"],
                4: ["layer1", "layer2", "layer3", "layer4"],
                5: ["bn1", "conv1", "layer1", "layer2", "layer3", "layer4"]}
    for trainable, prefixes in expected.items():
        set_trainable_stages(model, trainable)
        assert _trainable_prefixes(model) == prefixes
    with pytest.raises(ResnetsError, match="0..5"):
        set_trainable_stages(model, 6)


def test_densenet_transitions_train_with_the_block_they_feed():
    model = create_model("cifar_densenet", num_classes=0, depth=10)
    set_trainable_stages(model, 1)
    trained = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"transition2", "denseblock3", "norm5"}


def test_build_body_freezes_bn_and_keeps_no_classifier():
    body = build_body("resnet18", norm="frozen", trainable_layers=2)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in body.modules())
    assert _trainable_prefixes(body) == ["layer3", "layer4"]
    assert not any(n.startswith("fc.") for n, _ in body.named_parameters())
    group = build_body("resnet18", norm="group", output_stride=8)
    assert any(isinstance(m, nn.GroupNorm) for m in group.modules())
    assert group.feature_info[-1]["reduction"] == 8
    with pytest.raises(ResnetsError, match="unknown backbone norm"):
        build_body("resnet18", norm="layer")
