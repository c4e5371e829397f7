"""One training step of each detector on tiny inputs; inference output format."""

import pytest
import torch

from resnets.detection.models import DetectorConfig, build_detector
from resnets.errors import ResnetsError

TINY = dict(backbone="resnet18", norm="frozen", trainable_layers=2, fpn_channels=16,
            min_size=64, max_size=64, anchor_size=8, box_head_size=32, rois_per_image=16)


@pytest.mark.parametrize("arch,loss_names", [
    ("fasterrcnn", {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}),
    ("retinanet", {"classification", "bbox_regression"})])
def test_a_training_step_reaches_the_trainable_stages_only(arch, loss_names):
    torch.manual_seed(0)
    model = build_detector(DetectorConfig(arch=arch, **TINY), num_classes=3).train()
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 64)]
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0]]), "labels": torch.tensor([2])},
               {"boxes": torch.tensor([[10.0, 10.0, 20.0, 20.0], [30.0, 5.0, 60.0, 40.0]]),
                "labels": torch.tensor([1, 3])}]
    losses = model(images, targets)
    assert set(losses) == loss_names and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    body = model.backbone.features.body
    assert all(p.grad is None for p in body.layer2.parameters())  # frozen by trainable=2
    assert all(not p.requires_grad for p in body.conv1.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in body.layer4.parameters())
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 64, 64)])[0]
    assert set(out) == {"boxes", "scores", "labels"}
    assert out["boxes"].shape[1:] == (4,) and len(out["labels"]) == len(out["scores"])
    assert out["labels"].numel() == 0 or 1 <= out["labels"].min() <= out["labels"].max() <= 3


def test_faster_rcnn_anchors_double_per_level():
    model = build_detector(DetectorConfig(**TINY), num_classes=1)
    sizes = model.rpn.anchor_generator.sizes
    assert sizes == ((8,), (16,), (32,), (64,), (128,))  # P2-P5 and the pooled P6


def test_bad_detector_settings_are_refused():
    with pytest.raises(ResnetsError, match="did you mean 'retinanet'"):
        DetectorConfig(arch="retinnet")
    with pytest.raises(ResnetsError, match="detector.min_size 900 exceeds detector.max_size 800"):
        DetectorConfig(min_size=900, max_size=800)
    with pytest.raises(ResnetsError, match="at least one class"):
        build_detector(DetectorConfig(**TINY), num_classes=0)
