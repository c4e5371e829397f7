"""``resnets quantize``: int8 models of a run with their report, both backends, QAT runs
trained through the engine, and bad requests refused in one line before any work."""

from __future__ import annotations

import json

import pytest
import torch

from resnets.cli import main
from resnets.models.quantize import load_quantized
from resnets.train.engine import train
from resnets.train.recipes import recipe_config

pytest.importorskip("torchao")

TINY = {"model.name": "cifar_resnet", "model.depth": "8", "data.synthetic_size": "32",
        "data.resize": "16", "batch_size": "16", "eval_batch_size": "32", "epochs": "1",
        "device": "cpu", "deterministic": "true"}
FAST = ["--calibration", "16", "--seconds", "0.01"]


def tiny_run(tmp_path, name, **extra):
    overrides = {**TINY, "out_dir": str(tmp_path), "run_name": name,
                 **{k: str(v) for k, v in extra.items()}}
    train(recipe_config("synthetic-smoke", overrides))
    return tmp_path / name


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("runs"), "fp32")


def read_report(folder):
    return json.loads((folder / "quantize.json").read_text())


def test_torch_backend_writes_an_int8_program_and_a_side_by_side_report(run_dir, capsys):
    assert main(["quantize", str(run_dir), *FAST]) == 0
    printed = capsys.readouterr().out
    report = read_report(run_dir / "int8")
    assert list(report["rows"]) == ["fp32 eager", "int8 torch"]
    assert report["calibration_images"] == 16 and report["test_images"] == 8
    assert report["threads"] == 1 and report["machine"]["torch"] == torch.__version__
    fp32, q = report["rows"]["fp32 eager"], report["rows"]["int8 torch"]
    assert fp32["agreement"] == 100.0 and 0 <= q["agreement"] <= 100
    assert q["size_mb"] < fp32["size_mb"]  # int8 weights, no fp32 copy kept
    for row in (fp32, q):
        assert row["latency_ms"] > 0 and row["images_per_s_b8"] > 0
        assert row["accuracy"] is not None
    assert "int8 torch" in printed and "b1 ms" in printed
    model = load_quantized(run_dir / "int8" / "model-int8.pt2")
    state = torch.load(run_dir / "last.pt", weights_only=True)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, len(state["classes"]))


def test_onnxruntime_backend_quantizes_the_exported_model(run_dir, tmp_path):
    from resnets.export import OnnxModel

    out = tmp_path / "ort"
    assert main(["quantize", str(run_dir), "--backend", "onnxruntime", "--out", str(out),
                 *FAST]) == 0
    report = read_report(out)
    assert list(report["rows"]) == ["fp32 eager", "fp32 onnxruntime", "int8 onnxruntime"]
    rows = report["rows"]
    assert rows["int8 onnxruntime"]["size_mb"] < rows["fp32 onnxruntime"]["size_mb"] / 2
    assert rows["fp32 onnxruntime"]["agreement"] == 100.0
    assert OnnxModel(out / "model-int8.onnx")(torch.randn(3, 3, 16, 16)).shape[0] == 3


@pytest.mark.slow  # about a minute on 2 cores; tests/models/test_quantize.py keeps QAT's graph
def test_qat_fine_tunes_two_steps_through_the_engine_and_converts(run_dir, tmp_path, capsys):
    qat = tiny_run(tmp_path, "qat", **{"quant.qat": "true", "model.pretrained": run_dir,
                                       "iterations": "2", "optim.lr": "0.001"})
    metrics = [json.loads(r) for r in (qat / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 2
    assert main(["quantize", str(qat), *FAST]) == 0
    report = read_report(qat / "int8")
    assert report["qat"] and report["calibration_images"] == 0  # ranges learned
    assert list(report["rows"]) == ["qat fake-int8 eager", "int8 torch"]
    assert load_quantized(qat / "int8" / "model-int8.pt2")(torch.randn(2, 3, 16, 16)).shape[0] == 2
    capsys.readouterr()
    assert main(["quantize", str(qat), "--backend", "onnxruntime", "--out",
                 str(tmp_path / "o")]) == 2
    assert "use --backend torch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before any work


@pytest.mark.parametrize("argv, fragment", [
    ([], "quantize a run (RUN_DIR or checkpoint) or --model"),
    (["--model", "resnet20"], "--model needs --weights"),
    (["--model", "resnet_nope", "--weights", "w.pt", "--out", "o"], "resnet_nope"),
    (["--model", "resnet20", "--weights", "w.pt"], "--model needs --out DIR"),
    (["no-such-run"], "is neither a run directory nor a checkpoint"),
    (["no-such-run", "--calibration", "0"], "--calibration"),
    (["no-such-run", "--backend", "tensorrt"], "--backend"),
])
def test_bad_requests_are_one_line(argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["quantize", *argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())


def test_an_unwritable_output_folder_stops_before_any_work(run_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(["quantize", str(run_dir), "--out", str(blocker / "int8")]) == 2
    assert capsys.readouterr().err.startswith("resnets quantize: error:")


def test_qat_refuses_what_cannot_change_an_exported_graph(tmp_path):
    from resnets.errors import ResnetsError
    from resnets.train.config import check_settings

    for key in ("compile", "sync_bn", "model.grad_checkpointing"):
        cfg = recipe_config("synthetic-smoke", {"quant.qat": "true", key: "true"})
        with pytest.raises(ResnetsError, match=f"drop {key}"):
            check_settings(cfg)
