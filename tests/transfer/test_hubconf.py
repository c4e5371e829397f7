"""``hubconf.py``: torch.hub loads every registry model from a local checkout."""

import importlib.util
from pathlib import Path

import pytest
import torch

import resnets

REPO = str(Path(__file__).resolve().parents[2])


def test_hub_lists_every_registered_model():
    # torch.hub.list reads a GitHub repository's hubconf; it lists what dir() gives, callable
    spec = importlib.util.spec_from_file_location("hubconf", Path(REPO) / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    names = [n for n in dir(hubconf) if callable(getattr(hubconf, n)) and n[0] != "_"]
    assert set(names) == set(resnets.list_models())


def test_hub_builds_a_model_with_its_options():
    model = torch.hub.load(REPO, "resnet20", source="local", num_classes=7)
    torch.manual_seed(0)
    reference = resnets.create_model("resnet20", num_classes=7)
    assert model.fc.out_features == 7
    assert model.state_dict().keys() == reference.state_dict().keys()


def test_hub_loads_published_weights_from_the_cache(hub):
    torch.manual_seed(1)
    state = resnets.create_model("resnet18").state_dict()
    hub("resnet18", state)
    model = torch.hub.load(REPO, "resnet18", source="local", pretrained=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert resnets.resolve_data_config(model)["resize"] == 256  # it knows its weights


def test_an_unknown_entry_point_is_refused():
    with pytest.raises((RuntimeError, AttributeError), match="resnet19"):
        torch.hub.load(REPO, "resnet19", source="local")
