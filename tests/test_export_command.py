"""``resnets export``: each format written, run by its runtime, checked against eager."""

import json

import pytest
import torch

import resnets
from resnets.cli import main
from resnets.export import OnnxModel
from resnets.train.engine import train
from resnets.train.recipes import recipe_config


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "resnet20.safetensors"
    resnets.save_weights(resnets.create_model("resnet20", num_classes=10), path)
    return path


def reference(weights_file):
    return resnets.load_weights(resnets.create_model("resnet20"), weights_file).eval()


def exported_outputs(fmt, path, x):
    if fmt == "onnx":
        return OnnxModel(path)(x)
    if fmt == "exported-program":
        return torch.export.load(str(path)).module()(x)
    from torch._inductor import aoti_load_package

    return aoti_load_package(str(path))(x)


@pytest.mark.parametrize("fmt, suffix", [
    ("onnx", ".onnx"), ("exported-program", ".pt2"),
    pytest.param("aoti", ".pt2", marks=pytest.mark.slow)])  # a C++ build: about a minute
def test_each_format_runs_in_its_runtime_like_eager(fmt, suffix, weights_file, tmp_path,
                                                    capsys):
    out = tmp_path / f"model{suffix}"
    assert main(["export", "--model", "resnet20", "--weights", str(weights_file),
                 "--format", fmt, "--out", str(out), "--fuse"]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out} ({fmt}, resnet20, input 3x32x32)" in said
    record = json.loads((tmp_path / f"model{suffix}.json").read_text())
    assert record["max_abs_difference"] < 1e-4 and record["fused"] is True
    x = torch.randn(7, 3, 32, 32)  # another batch size than the check's: the batch is dynamic
    with torch.no_grad():
        assert torch.allclose(exported_outputs(fmt, out, x), reference(weights_file)(x),
                              atol=1e-4)


def test_a_run_exports_with_its_normalisation_and_classes(tmp_path, capsys):
    cfg = recipe_config("synthetic-smoke", {"out_dir": str(tmp_path), "run_name": "r",
                                            "epochs": "1", "device": "cpu",
                                            "data.synthetic_size": "32"})
    train(cfg)
    capsys.readouterr()
    out = tmp_path / "r.pt2"
    assert main(["export", str(tmp_path / "r"), "--format", "exported-program",
                 "--out", str(out)]) == 0
    record = json.loads((tmp_path / "r.pt2.json").read_text())
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert record["classes"] == state["classes"] and record["mean"] == list(state["mean"])
    assert record["model"] == cfg.model.name and record["max_abs_difference"] == 0


@pytest.mark.parametrize("argv, fragment", [
    (["--format", "onnx", "--out", "m.onnx"], "export a run (RUN_DIR or checkpoint) or"),
    (["--model", "resnet20", "--format", "onnx", "--out", "m.onnx"], "--model needs --weights"),
    (["--model", "resnet20", "--weights", "imagenet", "--format", "onnx", "--out", "m.onnx"],
     "resnet20 has no published ImageNet weights"),
    (["--model", "resnet20", "--weights", "nope.pt", "--format", "onnx", "--out", "m.onnx"],
     "is neither imagenet[:v1|v2] nor a weights file"),
    (["--model", "resnet20", "--weights", "imagenet:v3", "--format", "onnx", "--out", "m.onnx"],
     "the tag after 'imagenet:' is one of v1, v2"),
])
def test_bad_requests_are_one_line(argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_the_file_name_must_fit_the_format(weights_file, tmp_path, capsys):
    assert main(["export", "--model", "resnet20", "--weights", str(weights_file),
                 "--format", "onnx", "--out", str(tmp_path / "m.pt2")]) == 2
    assert "onnx files end in .onnx" in capsys.readouterr().err


def test_the_check_compares_finite_outputs_and_flags_a_new_overflow():
    from resnets.export import _difference

    eager = torch.tensor([1.0, float("inf"), 3.0])
    assert _difference(torch.tensor([1.5, float("inf"), 3.0]), eager) == (0.5, 1)
    assert _difference(torch.tensor([1.0, 2.0, float("nan")]), eager)[0] == float("inf")
