"""Every image model of the registry goes through the hub format and torch.export: the
cheap ones by default, the rest in the slow group."""

import pytest
import torch

import resnets
from resnets.export import Exportable, export
from resnets.models import list_models, model_info

QUICK = {"resnet20", "plain20", "preact_resnet18", "vit_digits"}  # densenets: -m slow
MODELS = [name if name in QUICK else pytest.param(name, marks=pytest.mark.slow)
          for name in list_models(modality="image", task="classification")]


@pytest.mark.parametrize("name", MODELS)
def test_saved_for_the_hub_and_loaded_back(name, tmp_path):
    torch.manual_seed(0)
    model = resnets.create_model(name, num_classes=3)
    folder = resnets.save_pretrained(model, tmp_path / name)
    again = resnets.create_model(f"local-dir:{folder}")
    theirs = again.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())


@pytest.mark.parametrize("name", MODELS)
def test_exported_as_a_program_it_computes_as_eager(name, tmp_path):
    torch.manual_seed(0)
    side = 64 if model_info(name).input_size == 224 else 32  # small: any side from 32 works
    model = resnets.create_model(name, num_classes=3).eval()
    record = export(Exportable(model, name, (3, side, side), None, None, None),
                    "exported-program", tmp_path / "m.pt2", batch=2)
    assert record["max_abs_difference"] < 1e-4
    x = torch.randn(3, 3, side, side)
    with torch.no_grad():
        # equal_nan: the deepest nets overflow at random initialisation, exported or not
        assert torch.allclose(torch.export.load(str(tmp_path / "m.pt2")).module()(x),
                              model(x), atol=1e-4, equal_nan=True)
