"""benchmarks/render_performance.py turns a result JSON into the performance page."""

import importlib.util
from pathlib import Path

from resnets.bench import Case, summarise

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "render_performance.py"


def load_renderer():
    spec = importlib.util.spec_from_file_location("render_performance", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(kind, impl, ips, **flags):
    case = Case(kind, "resnet18", impl, **flags)
    return {"case": dict(case.__dict__), "label": case.label, "images_per_s": ips,
            "latency_ms": 1000 / ips, "peak_mem_mb": 321.0}


def test_render_shows_ratios_peak_kernels_and_failures():
    results = [{"case": dict(Case("matmul").__dict__), "label": "ours", "gflops": 120.0,
                "kernels": {"matmul": 95.0, "conv3x3": 120.0, "conv1x1": 90.0}},
               row("infer", "torchvision", 20.0), row("infer", "ours", 50.0, precision="bf16",
                                                      channels_last=True, fuse=True,
                                                      compile=True),
               {"case": dict(Case("infer", "resnet18", "onnxruntime").__dict__),
                "label": "onnxruntime", "error": "boom"}]
    result = {"config": {"device": "cpu", "models": ["resnet18"], "seconds": 1.0,
                         "train_batch": 32, "infer_batch": 8, "threads": 2},
              "machine": {"processor": "", "cpus": 2, "torch": "x", "platform": "linux"},
              "results": results, "summary": summarise(results, "cpu")}
    text = load_renderer().render(result)
    assert "--threads 2" in text
    assert "120.0 GFLOP/s" in text and "conv3x3 120.0" in text and "matmul 95.0" in text
    assert "| ours+cl+fused+compiled+bf16 | 50.0 | 2.50x |" in text
    assert "--rounds" not in text and "median" not in text
    assert "| torchvision | 20.0 | 1.00x |" in text
    assert "onnxruntime: boom" in text
    # The targets table: the bf16 fast path's inference ratio, nothing invented for the rest.
    assert "| resnet18 |  |  |  |  | 2.50x |  |" in text


def test_render_shows_rounds_and_both_fractions_of_resnet50():
    probe = {"case": dict(Case("matmul").__dict__), "label": "ours", "gflops": 200.0,
             "kernels": {"matmul": 100.0, "conv3x3": 200.0}}
    results = [probe]
    for rate in (4.0, 5.0, 4.5):
        for impl in ("ours", "torchvision"):
            case = Case("train", "resnet50", impl, batch=32)
            results.append({"case": dict(case.__dict__), "label": case.label,
                            "images_per_s": rate, "latency_ms": 1.0, "peak_mem_mb": 1.0})
    result = {"config": {"device": "cpu", "models": ["resnet50"], "seconds": 1.0,
                         "train_batch": 32, "infer_batch": 8, "rounds": 3},
              "machine": {"processor": "", "cpus": 2, "torch": "x", "platform": "linux"},
              "results": results, "summary": summarise(results, "cpu")}
    text = load_renderer().render(result)
    assert "--rounds 3" in text and "median of its rounds" in text
    assert "| ours | 4.5 | 1.00x |" in text and "| 4.0, 4.5, 5.0 |" in text
    # resnet50: 4,089,184,256 MACs; 2 x MACs x 3 x 4.5 / 100 GFLOP/s = 110%, / 200 = 55%
    assert "matrix-multiply peak (the target's measure): ours 110%" in text
    assert "best dense kernel probed: ours 55%" in text


def test_render_adds_the_profile_of_a_step():
    prof = {"model": "resnet50", "batch": 32, "steps": 2, "command": "python x.py",
            "seconds_per_step": 5.0, "images_per_s": 6.4,
            "groups_seconds": {"convolution forward": 1.5, "convolution backward": 2.5,
                               "everything else": 1.0},
            "convolutions": {"forward_gflops": 180.0, "backward_gflops": 200.0,
                             "all_gflops": 192.0}}
    lines = load_renderer().render_profile(prof, peak=240.0)
    text = "\n".join(lines)
    assert "| convolution backward | 2.500 | 50% |" in text
    assert "| everything else | 1.000 | 20% |" in text
    assert "192 together" in text and "80% of the best dense kernel probed" in text
