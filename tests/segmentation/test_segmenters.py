"""FCN and DeepLabV3 on dilated backbones: one training step, output sizes and strides."""

import pytest
import torch

from resnets.errors import ResnetsError
from resnets.segmentation.models import SegmenterConfig, atrous_rates, build_segmenter


@pytest.mark.parametrize("head,stride", [("fcn", 16), ("deeplabv3", 8)])
def test_a_training_step_gives_full_resolution_logits(head, stride):
    torch.manual_seed(0)
    cfg = SegmenterConfig(head=head, backbone="resnet18", output_stride=stride)
    model = build_segmenter(cfg, num_classes=4).train()
    images = torch.rand(2, 3, 48, 64)
    masks = torch.randint(0, 4, (2, 48, 64))
    features = model.backbone(images)
    assert features["out"].shape == (2, 512, 48 // stride, 64 // stride)
    assert features["aux"].shape == (2, 256, 48 // min(stride, 16), 64 // min(stride, 16))
    out = model(images)
    assert out["out"].shape == out["aux"].shape == (2, 4, 48, 64)
    loss = torch.nn.functional.cross_entropy(out["out"], masks)
    loss = loss + 0.5 * torch.nn.functional.cross_entropy(out["aux"], masks)
    loss.backward()
    assert model.backbone.body.conv1.weight.grad.abs().sum() > 0
    assert model.classifier[-1].weight.grad.abs().sum() > 0


def test_without_aux_head_and_with_a_cifar_backbone():
    model = build_segmenter(SegmenterConfig(head="fcn", backbone="resnet20", output_stride=0,
                                            aux_loss=False), 3).eval()
    assert model.aux_classifier is None
    with torch.no_grad():
        assert set(model(torch.rand(1, 3, 32, 32))) == {"out"}


def test_aspp_rates_double_at_output_stride_8():
    assert atrous_rates(16) == (6, 12, 18) and atrous_rates(8) == (12, 24, 36)


def test_bad_segmenter_settings_are_refused():
    with pytest.raises(ResnetsError, match="output_stride must be one of 0, 8, 16, got 4"):
        SegmenterConfig(output_stride=4)
    with pytest.raises(ResnetsError, match="did you mean 'fcn'"):
        SegmenterConfig(head="fcm")
    with pytest.raises(ResnetsError, match="at least 2 classes"):
        build_segmenter(SegmenterConfig(backbone="resnet18"), 1)
