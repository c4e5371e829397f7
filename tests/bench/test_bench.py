"""The benchmark machinery (not timings): plans, one real case, and the arithmetic of ratios."""

import json

import pytest

import torch

from resnets.bench import Case, SuiteConfig, plan, run_case, summarise, suite
from resnets.bench.suite import schedule
from resnets.bench.case import PEAK_KERNELS, peak_gflops
from resnets.errors import ResnetsError


def test_plan_pairs_every_model_with_its_reference_and_fast_path(monkeypatch):
    monkeypatch.setattr(suite, "_bf16_native", lambda device: False)
    cases = plan(SuiteConfig(models=("resnet20", "resnet50"), checkpointing=True))
    labels = {(c.kind, c.model, c.label) for c in cases}
    assert ("train", "resnet50", "torchvision") in labels
    # Ours as `resnets train` runs it (NHWC); torchvision as built, and switched to NHWC.
    assert ("train", "resnet50", "ours+cl") in labels
    assert ("train", "resnet50", "ours") not in labels
    assert ("train", "resnet50", "torchvision+cl") in labels
    assert ("infer", "resnet50", "ours") in labels
    assert ("train", "resnet50", "ours+cl+compiled") in labels
    assert ("infer", "resnet50", "ours+cl+fused+compiled") in labels
    assert ("latency", "resnet20", "onnxruntime") in labels
    assert not any(c.model == "resnet20" and c.impl in ("torchvision", "timm") for c in cases)
    assert ("train", "resnet152", "ours+ckpt") in labels
    assert sum(c.kind == "matmul" for c in cases) == 1
    assert not any(c.precision == "bf16" for c in cases)


def test_plan_adds_bf16_fast_path_and_probe_where_bf16_is_native(monkeypatch):
    monkeypatch.setattr(suite, "_bf16_native", lambda device: True)
    cases = plan(SuiteConfig(models=("resnet18",), checkpointing=False))
    labels = {(c.kind, c.label) for c in cases}
    assert ("train", "ours+cl+compiled+bf16") in labels
    assert ("infer", "ours+cl+fused+compiled+bf16") in labels
    assert ("infer", "ours+cl+fused+compiled") in labels
    assert {c.precision for c in cases if c.kind == "matmul"} == {"fp32", "bf16"}


def test_peak_probe_reports_each_kernel_and_takes_the_best():
    result = peak_gflops(torch.device("cpu"), torch.float32, seconds=0.3)
    assert set(result["kernels"]) == set(PEAK_KERNELS)
    assert all(rate > 0 for rate in result["kernels"].values())
    assert result["gflops"] == max(result["kernels"].values())


def test_unknown_model_is_refused():
    with pytest.raises(ResnetsError, match="--models must be a comma-separated list from "
                       "resnet20, resnet56, resnet18, resnet50, got"):
        plan(SuiteConfig(models=("resnet19",)))


def test_one_case_runs_in_its_own_process():
    case = Case("infer", "resnet20", resolution=16, batch=2, seconds=0.2, warmup=1)
    result = run_case(case, timeout=120, threads=1)
    assert "error" not in result, result
    assert result["images_per_s"] > 0 and result["calls"] >= 2
    assert result["label"] == "ours" and result["case"]["model"] == "resnet20"


def test_a_failing_case_reports_instead_of_raising():
    result = run_case(Case("infer", "no_such_model", seconds=0.1), timeout=120, threads=1)
    assert "error" in result and "no_such_model" in result["error"]


def fake(kind, model, impl, ips, **flags):
    case = Case(kind, model, impl, **flags)
    return {"case": json.loads(json.dumps(case.__dict__)), "label": case.label,
            "images_per_s": ips, "latency_ms": 1000 / ips, "peak_mem_mb": 100.0}


def test_summary_ratios_and_fraction_of_peak():
    results = [{"case": Case("matmul").__dict__, "label": "ours", "gflops": 100.0},
               fake("train", "resnet18", "torchvision", 10.0),
               fake("train", "resnet18", "ours", 12.0),
               fake("latency", "resnet18", "torchvision", 50.0),
               fake("latency", "resnet18", "ours", 100.0)]
    summary = summarise(results, "cpu")
    train = summary["models"]["resnet18"]["train"]
    assert train["ours"]["ratio_to_reference"] == pytest.approx(1.2)
    # resnet18: 1,814,073,344 MACs; 2 x MACs x 3 passes x 12 img/s / 100 GFLOP/s
    assert train["ours"]["fraction_of_peak"] == pytest.approx(2 * 1814073344 * 3 * 12 / 1e11)
    assert summary["models"]["resnet18"]["latency"]["ours"]["ratio_to_reference"] == \
        pytest.approx(2.0)


def test_cifar_nets_are_measured_against_our_defaults():
    results = [fake("train", "resnet20", "ours", 100.0, channels_last=True, resolution=32),
               fake("train", "resnet20", "ours", 150.0, channels_last=True, compile=True,
                    resolution=32),
               fake("infer", "resnet20", "ours", 200.0, resolution=32),
               fake("infer", "resnet20", "ours", 500.0, fuse=True, resolution=32)]
    summary = summarise(results, "cpu")
    rows = summary["models"]["resnet20"]
    assert rows["train"]["ours+cl"]["ratio_to_reference"] == 1.0
    assert rows["train"]["ours+cl+compiled"]["ratio_to_reference"] == pytest.approx(1.5)
    assert rows["infer"]["ours+fused"]["ratio_to_reference"] == pytest.approx(2.5)
    assert summary["defaults_labels"]["train"] == "ours+cl"


def test_checkpointing_summary():
    plain = fake("train", "resnet152", "ours", 4.0)
    saved = fake("train", "resnet152", "ours", 3.0, checkpointing=True)
    saved["peak_mem_mb"] = 40.0
    summary = summarise([plain, saved], "cpu")
    assert summary["checkpointing"]["memory_saving"] == pytest.approx(0.6)
    assert summary["checkpointing"]["slowdown"] == pytest.approx(4 / 3)


def test_rounds_interleave_the_whole_plan_and_run_checkpointing_once():
    cfg = SuiteConfig(models=("resnet20",), rounds=3, checkpointing=True)
    order = schedule(cfg)
    cases = plan(cfg)
    per_round = [c for c in cases if c.model != "resnet152"]
    assert [c for r, c in order if r == 1] == cases
    assert [c for r, c in order if r == 2] == per_round == [c for r, c in order if r == 3]
    assert [r for r, _ in order] == sorted(r for r, _ in order)  # round by round
    with pytest.raises(ResnetsError, match=r"--rounds must be an integer in \[1, 100\], got 0"):
        schedule(SuiteConfig(rounds=0))


def test_rounds_combine_into_medians_and_both_peaks():
    probe = {"case": Case("matmul").__dict__, "label": "ours", "gflops": 100.0,
             "kernels": {"matmul": 80.0, "conv3x3": 100.0}}
    slower_probe = {**probe, "gflops": 90.0, "kernels": {"matmul": 75.0, "conv3x3": 90.0}}
    results = [probe, slower_probe]
    for rate, ref_rate in ((12.0, 10.0), (6.0, 11.0), (13.0, 9.0)):  # one disturbed round
        results += [fake("train", "resnet18", "ours", rate),
                    fake("train", "resnet18", "torchvision", ref_rate)]
    results[-2]["peak_mem_mb"] = 150.0
    summary = summarise(results, "cpu")
    ours = summary["models"]["resnet18"]["train"]["ours"]
    assert ours["images_per_s"] == 12.0 and ours["rounds_images_per_s"] == [6.0, 12.0, 13.0]
    assert ours["ratio_to_reference"] == pytest.approx(12.0 / 10.0)
    assert ours["peak_mem_mb"] == 150.0  # the highest of the rounds
    assert summary["matmul_gflops"] == {"fp32": 100.0}  # the best round of the probe
    assert summary["peak_kernels"]["fp32"] == {"matmul": 80.0, "conv3x3": 100.0}
    flops = 2 * 1814073344 * 3 * 12.0
    assert ours["fraction_of_peak"] == pytest.approx(flops / 100e9)
    assert ours["fraction_of_matmul_peak"] == pytest.approx(flops / 80e9)


def test_an_unwritable_results_file_fails_before_measuring(full_disk, monkeypatch, capsys):
    from resnets.cli import main

    monkeypatch.setattr("resnets.bench.run_suite", lambda cfg: pytest.fail("measured anyway"))
    assert main(["bench", "--models", "resnet20", "--out", str(full_disk / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "no space left on device" in err and err.count("\n") == 1


def test_a_fast_path_slower_than_its_reference_is_flagged():
    results = [fake("train", "resnet18", "torchvision", 10.0),
               fake("train", "resnet18", "ours", 9.0, channels_last=True),
               fake("train", "resnet18", "ours", 3.6, channels_last=True, precision="bf16"),
               fake("train", "resnet18", "ours", 14.0, channels_last=True, compile=True)]
    slow = summarise(results, "cpu")["slower_than_reference"]
    assert slow == ["resnet18 train ours+cl+bf16 0.36x"]  # our defaults are not a fast path
