"""Choosing the fastest deployment path (resnets.fastest) with injected timings: the choice,
its cache per machine/torch/model, a damaged cache, and `resnets export --format fastest`."""

from __future__ import annotations

import json

import torch

import resnets
from resnets import fastest
from resnets.cli import main


def timers(**seconds):
    calls = []

    def timer(name):
        def measure():
            calls.append(name)
            return seconds[name]
        return measure
    return {name: timer(name) for name in seconds}, calls


def test_the_fastest_candidate_is_chosen_and_cached(tmp_path):
    cache = tmp_path / "fastest.json"
    chosen_timers, calls = timers(onnx=0.002, **{"exported-program": 0.005})
    first = fastest.choose("cpu A | model", chosen_timers, cache)
    assert (first.name, first.cached) == ("onnx", False) and sorted(calls) == [
        "exported-program", "onnx"]
    # Asked again: the cached choice stands and nothing is timed, whatever the timers say now.
    again_timers, again_calls = timers(onnx=9.0, **{"exported-program": 0.001})
    second = fastest.choose("cpu A | model", again_timers, cache)
    assert (second.name, second.cached, again_calls) == ("onnx", True, [])
    # Another key (another CPU, torch or model) is measured on its own.
    third = fastest.choose("cpu B | model", again_timers, cache)
    assert (third.name, third.cached) == ("exported-program", False)
    assert set(json.loads(cache.read_text())) == {"cpu A | model", "cpu B | model"}


def test_a_damaged_cache_is_measured_over(tmp_path):
    cache = tmp_path / "fastest.json"
    cache.write_text("{not json")
    choice = fastest.choose("k", timers(a=2.0, b=1.0)[0], cache)
    assert (choice.name, choice.cached) == ("b", False)
    assert json.loads(cache.read_text())["k"]["name"] == "b"


def test_a_cached_candidate_no_longer_offered_is_measured_again(tmp_path):
    cache = tmp_path / "fastest.json"
    cache.write_text(json.dumps({"k": {"name": "aoti", "seconds": {"aoti": 0.1}}}))
    assert fastest.choose("k", timers(a=2.0, b=1.0)[0], cache).name == "b"


def test_the_key_names_cpu_torch_model_input_batch_and_threads(monkeypatch):
    monkeypatch.setattr(fastest, "cpu_name", lambda: "Some CPU 9000")
    key = fastest.cache_key("resnet50", (3, 224, 224), 8)
    for part in ("Some CPU 9000", torch.__version__, "resnet50 3x224x224", "batch 8",
                 f"{torch.get_num_threads()} threads"):
        assert part in key


def test_the_line_says_what_was_chosen_against_what():
    line = fastest.Choice("onnx", {"onnx": 0.002, "exported-program": 0.004}, True, "k").line(8)
    assert line.startswith("chose onnx: 2 ms per batch of 8 against exported-program 4 ms")
    assert "cached in" in line and "measured now" not in line


def test_export_fastest_writes_the_chosen_format_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    seconds = {"onnx": 0.001, "exported-program": 0.003}
    monkeypatch.setattr(fastest, "seconds_per_call", lambda model, x, s: seconds[
        "onnx" if type(model).__name__ == "OnnxModel" else "exported-program"])
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    resnets.save_weights(resnets.create_model("resnet20", num_classes=10), weights)
    argv = ["export", "--model", "resnet20", "--weights", str(weights), "--format", "fastest",
            "--out", str(tmp_path / "m.pt2")]
    assert main(argv) == 0
    said = capsys.readouterr().out  # the ONNX exporter prints its progress too
    assert "\nchose onnx: 1 ms per batch of 4 against exported-program 3 ms" in said
    assert (tmp_path / "m.onnx").is_file() and not (tmp_path / "m.pt2").exists()
    seconds.update(onnx=1.0)  # the cached choice stands: not measured again
    assert main(argv) == 0
    assert "(cached in" in capsys.readouterr().out
