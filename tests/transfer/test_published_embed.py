"""`resnets embed|probe --model NAME --weights imagenet[:TAG]`: the published weights, from
the hub cache, fed through their own evaluation transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from published_weights import place_in_cache
from resnets.cli import main
from resnets.transfer.embed import load_embeddings

COMMON = ["--workers", "0", "--device", "cpu", "--batch-size", "4"]


@pytest.mark.parametrize("tag", ["v1", "v2"])
def test_embed_with_published_weights_uses_their_transform(image_folder, tmp_path,
                                                           monkeypatch, tag):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    place_in_cache(monkeypatch, tmp_path, "resnet18", reference.state_dict(), tag)
    root = image_folder(counts={"val": 1}) / "val"
    out = tmp_path / "feats.npz"
    assert main(["embed", str(root), "--out", str(out), "--model", "resnet18", "--weights",
                 f"imagenet:{tag}", *COMMON]) == 0
    features, names = load_embeddings(out)
    preset = torchvision.models.ResNet50_Weights[f"IMAGENET1K_{tag.upper()}"].transforms()
    from PIL import Image

    x = torch.stack([preset(Image.open(root / name).convert("RGB")) for name in names])
    reference.fc = torch.nn.Identity()
    with torch.no_grad():
        expected = reference.eval()(x).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)


def test_probe_refuses_a_model_without_published_weights_before_reading(image_folder,
                                                                        capsys):
    root = image_folder()
    assert main(["probe", str(root), "--model", "resnet20", "--weights", "imagenet",
                 *COMMON]) == 2
    err = capsys.readouterr().err
    assert "resnet20 has no published ImageNet weights" in err and err.count("\n") == 1
