"""A checkpoint's metadata is checked before evaluate or predict builds anything from it."""

import math

import pytest
import torch

from resnets.cli import main
from resnets.errors import CheckpointError
from resnets.train import inference
from resnets.train.checkpoint import load_checkpoint, save_checkpoint
from resnets.train.engine import train
from resnets.train.recipes import recipe_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The checkpoint of a two-step run on 32 synthetic images."""
    out = tmp_path_factory.mktemp("runs")
    train(recipe_config("synthetic-smoke", {
        "epochs": "1", "device": "cpu", "data.synthetic_size": "32", "batch_size": "16",
        "out_dir": str(out), "run_name": "meta"}))
    return load_checkpoint(out / "meta" / "last.pt")


def _changed(state, **fields):
    return {**state, **fields}


@pytest.mark.parametrize("fields, message", [
    (dict(classes=["a"] * 10), "classes name 'a' twice"),
    (dict(classes=list("abc")), "classes (3 names) do not fit the classifier"),
    (dict(classes="abcdefghij"), "classes is not a list of class names"),
    (dict(classes=[]), "the number of classes is 0, outside 1..100000"),
    (dict(image_size=10 ** 9), "image_size is 1000000000, outside 1..16384"),
    (dict(image_size=-32), "image_size is -32, outside"),
    (dict(image_size=32.0), "image_size is 32.0, not an integer"),
    (dict(in_chans=0), "in_chans is 0, outside 1..4096"),
    (dict(in_chans=10 ** 7), "in_chans is 10000000, outside 1..4096"),
    (dict(in_chans=1), "mean has 3 values for 1 input channels"),
    (dict(mean=[0.5, math.nan, 0.5]), "mean is not a list of finite numbers"),
    (dict(std=[0.5, 0.0, 0.5]), "std holds a value <= 0"),
    (dict(model_name="resnet2000"), "'resnet2000' is not a registered model"),
    (dict(model_name="resnet32"), "model_name 'resnet32' is not its config's model.name"),
])
def test_wrong_metadata_is_one_line_naming_the_field(trained, tmp_path, monkeypatch, fields,
                                                     message):
    path = save_checkpoint(tmp_path / "bad.pt", _changed(trained, **fields))
    real_build = inference.build_model

    def build_shapes_only(cfg, classes, in_chans, device, **options):
        assert device.type == "meta", "a model was allocated from wrong metadata"
        return real_build(cfg, classes, in_chans, device, **options)

    monkeypatch.setattr(inference, "build_model", build_shapes_only)
    with pytest.raises(CheckpointError) as info:
        inference.load_trained(path, torch.device("cpu"))
    assert message in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_an_impossible_config_in_a_checkpoint_is_refused(trained, tmp_path):
    config = {**trained["config"], "eval_batch_size": -512}
    path = save_checkpoint(tmp_path / "bad.pt", _changed(trained, config=config))
    with pytest.raises(CheckpointError, match="its config is impossible .*eval_batch_size"):
        inference.load_trained(path, torch.device("cpu"))


def test_a_checkpoint_trained_on_a_gpu_loads_where_there_is_none(trained, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = {**trained["config"], "device": "cuda:1"}
    path = save_checkpoint(tmp_path / "gpu.pt", _changed(trained, config=config))
    model, _, cfg = inference.load_trained(path, torch.device("cpu"))
    assert cfg.device == "cuda:1" and next(model.parameters()).device.type == "cpu"


def test_a_checkpoint_as_written_loads(trained, tmp_path):
    path = save_checkpoint(tmp_path / "good.pt", trained)
    model, state, cfg = inference.load_trained(path, torch.device("cpu"))
    assert state["classes"] == trained["classes"] and not model.training


def test_the_cli_prints_wrong_metadata_in_one_line(trained, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "bad.pt", _changed(trained, image_size=2 ** 40))
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resnets: error: checkpoint") and "image_size" in err
