"""load_weights(strict=False): loads what fits, says what did not, refuses what fits nowhere."""

import warnings

import pytest
import torch

from resnets import create_model, load_weights, save_weights
from resnets.errors import CheckpointError


def saved(tmp_path, name):
    torch.manual_seed(1)
    model = create_model(name)
    return model, save_weights(model, tmp_path / f"{name}.safetensors")


def test_a_classifier_checkpoint_fills_a_backbone_silently(tmp_path):
    source, path = saved(tmp_path, "resnet18")
    backbone = create_model("resnet18", num_classes=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file's extra classifier is no reason to warn
        load_weights(backbone, path, strict=False)
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_another_architecture_loads_what_fits_and_warns(tmp_path):
    source, path = saved(tmp_path, "resnet50")
    target = create_model("resnet18", num_classes=0)
    with pytest.warns(UserWarning, match=r"of the model's \d+ tensors found no match"):
        load_weights(target, path, strict=False)
    assert torch.equal(target.conv1.weight, source.conv1.weight)  # the stem has one shape


def test_weights_that_fit_nowhere_are_refused(tmp_path):
    _, path = saved(tmp_path, "resnet20")
    with pytest.raises(CheckpointError, match="no tensor of the weights in .* fits ResNet"):
        load_weights(create_model("resnet18", num_classes=0), path, strict=False)
