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


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize("writer, fragment", [
    (lambda p: torch.save({"fc.weight": Payload()}, p),
     "is not a weights file this project can load safely (it holds the pickled Python "
     "object print); give a .safetensors file or a .pt state dict of tensors"),
    (lambda p: p.write_bytes(bytes(range(256)) * 16), "is not a weights file: it is "
     "neither a torch file nor safetensors"),
])
def test_an_unsafe_or_foreign_file_never_gets_torchs_advice(tmp_path, capsys, writer,
                                                             fragment):
    path = tmp_path / "w.pt"
    writer(path)
    with pytest.raises(CheckpointError) as info:
        load_weights(create_model("resnet20"), path)
    message = str(info.value)
    assert fragment in message and "weights_only" not in message and "\n" not in message
    assert "code ran" not in capsys.readouterr().out


def test_a_damaged_safetensors_file_is_one_line(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="is not a readable safetensors file"):
        load_weights(create_model("resnet20"), path)
