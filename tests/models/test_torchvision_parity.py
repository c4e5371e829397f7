"""Our ImageNet ResNets, wide ResNets, ResNeXts and DenseNets compute exactly torchvision's
functions with torchvision's weights, dilated (output stride 8 and 16) ResNets included, and
weights files round-trip."""

from __future__ import annotations

import pytest
import torch
import torchvision

from resnets import load_weights, save_weights
from resnets.errors import CheckpointError
from resnets.models import create_model

RES = 64  # small, but every stage is still at least 2x2


def torchvision_model(name: str, randomize_batchnorm, **kwargs) -> torch.nn.Module:
    torch.manual_seed(1)
    return randomize_batchnorm(getattr(torchvision.models, name)(**kwargs), RES)


def assert_same_function(ours, theirs, batch: int = 2) -> None:
    x = torch.randn(batch, 3, RES, RES)
    with torch.no_grad():
        expected = theirs.eval()(x)
        got = ours.eval()(x)
    assert expected.std() > 0.05  # a meaningful, non-degenerate output
    assert (got - expected).abs().max() < 1e-5


# The two largest (127M and 89M parameters) are slow on two cores; the default suite still
# checks their names, shapes and counts against torchvision's (test_zoo.py) and runs them.
@pytest.mark.parametrize("name", [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
    pytest.param("wide_resnet101_2", marks=pytest.mark.slow), "resnext50_32x4d",
    pytest.param("resnext101_32x8d", marks=pytest.mark.slow), "densenet121", "densenet169",
    "densenet201", "densenet161"])
def test_equals_torchvision(name, randomize_batchnorm):
    theirs = torchvision_model(name, randomize_batchnorm)
    ours = create_model(name)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert_same_function(ours, theirs)


@pytest.mark.parametrize("output_stride,dilate", [(8, [False, True, True]),
                                                  (16, [False, False, True])])
def test_dilated_resnet50_equals_torchvision(output_stride, dilate, randomize_batchnorm):
    theirs = torchvision_model("resnet50", randomize_batchnorm,
                               replace_stride_with_dilation=dilate)
    ours = create_model("resnet50", output_stride=output_stride)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert_same_function(ours, theirs)
    with torch.no_grad():
        fmap = ours.forward_features(torch.randn(1, 3, RES, RES))
    assert fmap.shape[-1] == RES // output_stride


def test_load_torchvision_pth(tmp_path, randomize_batchnorm):
    theirs = torchvision_model("resnet18", randomize_batchnorm)
    path = tmp_path / "resnet18_tv.pth"
    torch.save(theirs.state_dict(), path)
    ours = load_weights(create_model("resnet18"), path)
    assert_same_function(ours, theirs)


def test_load_training_checkpoint_wrapped_by_ddp(tmp_path, randomize_batchnorm):
    theirs = torchvision_model("resnet18", randomize_batchnorm)
    wrapped = {f"module.{k}": v for k, v in theirs.state_dict().items()}
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": wrapped, "epoch": torch.tensor(3)}, path)
    assert_same_function(load_weights(create_model("resnet18"), path), theirs)


def test_safetensors_round_trip(tmp_path, randomize_batchnorm):
    source = randomize_batchnorm(create_model("resnet18"), RES)
    path = save_weights(source, tmp_path / "resnet18.safetensors")
    assert path.is_file()
    assert not [p for p in tmp_path.iterdir() if p != path]  # no temporary file left
    loaded = load_weights(create_model("resnet18"), path)
    for (k, a), (k2, b) in zip(source.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        assert torch.equal(a, b), k
    assert_same_function(loaded, source)


def test_num_classes_mismatch_is_explained(tmp_path):
    path = tmp_path / "imagenet.safetensors"
    imagenet = create_model("resnet18")
    save_weights(imagenet, path)
    small = create_model("resnet18", num_classes=10)
    before = small.fc.weight.clone()
    with pytest.raises(CheckpointError) as err:
        load_weights(small, path)
    message = str(err.value)
    assert "fc.weight" in message and "num_classes" in message and "\n" not in message
    assert torch.equal(small.fc.weight, before)  # nothing was loaded
    # Non-strict loading keeps the new classifier, takes everything else, and says so.
    with pytest.warns(UserWarning, match=r"2 of the model's \d+ tensors .* 'fc.weight'"):
        load_weights(small, path, strict=False)
    assert torch.equal(small.fc.weight, before)
    assert torch.equal(small.conv1.weight, imagenet.conv1.weight)


def test_in_chans_mismatch_is_explained(tmp_path):
    path = tmp_path / "rgb.safetensors"
    save_weights(create_model("resnet20"), path)
    with pytest.raises(CheckpointError, match="in_chans"):
        load_weights(create_model("resnet20", in_chans=1), path)


def test_other_architecture_is_explained(tmp_path):
    path = tmp_path / "resnet20.safetensors"
    save_weights(create_model("resnet20"), path)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_weights(create_model("resnet32"), path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(create_model("resnet20"), tmp_path / "nope.pth")


def test_save_weights_wants_safetensors(tmp_path):
    with pytest.raises(CheckpointError, match="safetensors"):
        save_weights(create_model("resnet20"), tmp_path / "weights.pth")
