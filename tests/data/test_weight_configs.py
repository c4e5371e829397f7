"""The configuration of each set of published weights, and its transform, against
torchvision's own weights enums (the publisher's facts) on real photos."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images
from torchvision.models import get_model_weights

import resnets
from resnets.errors import ResnetsError
from resnets.models.pretrained import PUBLISHED

PHOTOS = [Image.fromarray(np.asarray(image)) for image in load_sample_images().images]


def torchvision_weights(entry):
    return get_model_weights(entry.model)[f"IMAGENET1K_{entry.tag.upper()}"]


@pytest.mark.parametrize("entry", list(PUBLISHED.values()), ids=lambda e: f"{e.model}-{e.tag}")
def test_each_configuration_states_what_torchvision_publishes(entry):
    theirs = torchvision_weights(entry)
    ours = resnets.resolve_data_config(entry.model, weights=f"imagenet:{entry.tag}")
    preset = theirs.transforms()
    metrics = theirs.meta["_metrics"]["ImageNet-1K"]
    assert ours["url"] == theirs.url and theirs.url.endswith(ours["file_name"])
    assert (ours["top1"], ours["top5"]) == (metrics["acc@1"], metrics["acc@5"])
    assert [ours["resize"]] == preset.resize_size
    assert list(ours["input_size"][1:]) == preset.crop_size * 2
    assert ours["interpolation"] == preset.interpolation.value
    assert list(ours["mean"]) == preset.mean and list(ours["std"]) == preset.std
    assert ours["classes"] == theirs.meta["categories"] and ours["num_classes"] == 1000


@pytest.mark.parametrize("weights", ["imagenet", "imagenet:v2"])
@pytest.mark.parametrize("photo", range(len(PHOTOS)))
def test_the_eval_transform_gives_torchvisions_pixels(weights, photo):
    config = resnets.resolve_data_config("resnet50", weights=weights)
    tag = weights.partition(":")[2] or "v1"
    theirs = get_model_weights("resnet50")[f"IMAGENET1K_{tag.upper()}"].transforms()
    ours = resnets.create_transform(config)(PHOTOS[photo])
    assert ours.shape == (3, 224, 224) and type(ours) is torch.Tensor
    assert torch.equal(ours, theirs(PHOTOS[photo]))


def test_v1_and_v2_resize_differently():
    v1, v2 = (resnets.create_transform(resnets.resolve_data_config("resnet50", weights=w))
              for w in ("imagenet", "imagenet:v2"))
    assert not torch.equal(v1(PHOTOS[0]), v2(PHOTOS[0]))  # 256 vs 232 before the crop


def test_the_training_transform_crops_to_the_input_size():
    config = resnets.resolve_data_config("resnet18", weights="imagenet")
    torch.manual_seed(0)
    first = resnets.create_transform(config, train=True)(PHOTOS[1])
    assert first.shape == (3, 224, 224)
    assert not torch.equal(first, resnets.create_transform(config, train=True)(PHOTOS[1]))


def test_a_model_knows_its_architecture():
    model = resnets.create_model("resnet18")
    assert resnets.resolve_data_config(model, weights="imagenet")["architecture"] == "resnet18"
    model.pretrained_cfg["tag"] = "v1"  # what create_model(pretrained=True) records
    assert resnets.resolve_data_config(model)["resize"] == 256


@pytest.mark.parametrize("args, fragment", [
    (("resnet18",), "say which weights of resnet18"),
    (("resnet18", "imagenet:v3"), "the tag after 'imagenet:' is one of v1, v2"),
    (("resnet18", "imagenet:v2"), "resnet18 has published weights v1 but not v2"),
    (("resnet20", "imagenet"), "resnet20 has no published ImageNet weights"),
    (("resnet18", "runs/x"), "published weights are named 'imagenet'"),
    ((torch.nn.Linear(2, 2), "imagenet"), "was not made by resnets.create_model"),
])
def test_bad_requests_are_one_line(args, fragment):
    with pytest.raises(ResnetsError) as err:
        resnets.resolve_data_config(*args)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_imagenet_class_names():
    names = resnets.imagenet_classes()
    assert len(names) == len(set(names)) == 1000
    assert names[0] == "tench" and names[-1] == "toilet tissue"
