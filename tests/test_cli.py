"""The `resnets` command end to end, on synthetic data, in seconds."""

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from resnets.cli import APP_COMMANDS, COMMANDS, main

TINY = ["--recipe", "synthetic-smoke", "--epochs", "1", "--device", "cpu",
        "data.synthetic_size=32", "batch_size=16", "eval_batch_size=32"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", *TINY, "--out", str(out), "--name", "cli"]) == 0
    return out / "cli"


def test_train_prints_accuracy_and_run_directory(run_dir, capsys):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and 0 <= summary["test_accuracy"] <= 1
    assert (run_dir / "last.pt").is_file()


def test_train_output_names_the_run(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), "--name", "x"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and f"run directory: {tmp_path / 'x'}" in out


def test_evaluate_writes_report_and_confusion_png(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / "evaluation-test.json").read_text())
    assert report["images"] == 8 and len(report["per_class_accuracy"]) == 10
    assert sum(map(sum, report["confusion"])) == 8
    with Image.open(run_dir / "confusion-test.png") as png:
        assert png.size[0] > 100
    assert f"top-1 error {100 * report['top1_error']:.2f}%" in out


def test_evaluate_reports_calibration_and_per_class_scores(run_dir, capsys):
    """The report's ECE and precision/recall/F1 are torchmetrics' on the run's test split."""
    import torch
    from torchmetrics.classification import (MulticlassCalibrationError, MulticlassF1Score,
                                             MulticlassPrecision, MulticlassRecall)

    from resnets.train.inference import load_trained
    from resnets.train.pipeline import build_pipeline

    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    report = json.loads((run_dir / "evaluation-test.json").read_text())
    model, state, cfg = load_trained(run_dir, torch.device("cpu"))
    with torch.no_grad():
        pairs = [(model(x), y) for x, y in build_pipeline(cfg, torch.device("cpu")).test]
    logits, labels = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
    ece = MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")(logits.softmax(1),
                                                                           labels)
    assert report["calibration_bins"] == 15
    assert report["expected_calibration_error"] == pytest.approx(float(ece), abs=1e-5)
    preds = logits.argmax(1)
    for name, metric in [("precision", MulticlassPrecision), ("recall", MulticlassRecall),
                         ("f1", MulticlassF1Score)]:
        expected = metric(num_classes=10, average=None)(preds, labels).tolist()
        assert list(report[f"per_class_{name}"].values()) == pytest.approx(expected, abs=1e-6)
        assert f"macro_{name}" in report
    assert sum(report["reliability"]["count"]) == report["images"] == 8
    with Image.open(run_dir / "reliability-test.png") as png:
        assert png.size[0] > 100
    assert report["reliability_png"] == str(run_dir / "reliability-test.png")
    assert f"(ECE, 15 bins) {100 * report['expected_calibration_error']:.2f}%" in out
    assert f"reliability diagram: {run_dir / 'reliability-test.png'}" in out


def test_predict_prints_topk_classes(run_dir, tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(
        image)
    assert main(["predict", "--checkpoint", str(run_dir), "--topk", "3", str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(image) and len(lines) == 4
    probs = [float(line.split()[-1].rstrip("%")) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 100.01


def test_models_lists_the_registry(capsys):
    assert main(["models", "resnet18*"]) == 0  # every other model: tests/models
    out = capsys.readouterr().out
    assert "resnet18" in out and "11.69M" in out and "1.81G" in out
    assert "resnet50" not in out and "plain20" not in out


def test_recipes_lists_and_shows(capsys):
    assert main(["recipes"]) == 0
    assert "cifar10-resnet110" in capsys.readouterr().out
    assert main(["recipes", "--show", "cifar10-resnet20"]) == 0
    shown = capsys.readouterr().out
    assert '"iterations": 64000' in shown


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--recipe", "cifar10-resnet21"], "'cifar10-resnet20'"),
    (["train", "--model", "resnet19", "--epochs", "1"], "'resnet18'"),
    (["train", "--lr", "-0.1"], "optim.lr must be a finite number in (0, 10], got -0.1"),
    (["train", "--batch-size", "0"], "batch_size must be an integer in [1, 65536], got 0"),
    (["train", "optim.lr=abc"], "not a valid number"),
    (["train", "--data", "cifar10", "--root", "/nonexistent"], "cifar-10-batches-py"),
    (["evaluate", "/nonexistent"], "neither a run directory"),
    (["models", "nothing*"], "no model matches"),
])
def test_user_errors_are_one_line_without_traceback(argv, fragment, capsys, tmp_path):
    assert main([*argv, *(["--out", str(tmp_path)] if argv[0] == "train" else [])]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_real_process_exit_status_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "resnets.cli", "train", "--model", "resnet19",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "resnet18" in proc.stderr


def test_ctrl_c_saves_and_prints_the_resume_command(tmp_path):
    import signal
    import time

    argv = [sys.executable, "-m", "resnets.cli", "train", *TINY[:4], "--epochs", "200",
            "--device", "cpu", "data.synthetic_size=32", "batch_size=16", "checkpoint_every=1",
            "--out", str(tmp_path), "--name", "sig"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "sig" / "last.pt.sha256").exists() and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"resnets train --resume {tmp_path / 'sig'}" in out
    assert "Traceback" not in err
    from resnets.train.checkpoint import CheckpointManager

    step = CheckpointManager(tmp_path / "sig").load_latest()["step"]  # train 2 steps more
    resumed = subprocess.run([sys.executable, "-m", "resnets.cli", "train", "--resume",
                              str(tmp_path / "sig"), f"iterations={step + 2}"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    assert json.loads((tmp_path / "sig" / "summary.json").read_text())["steps"] == step + 2


def test_overrides_may_stand_between_flags(tmp_path):
    argv = ["train", "--recipe", "synthetic-smoke", "data.synthetic_size=32", "--epochs", "1",
            "batch_size=16", "--device", "cpu", "eval_batch_size=32", "--out", str(tmp_path),
            "--name", "mixed", "optim.lr=0.02"]
    assert main(argv) == 0
    cfg = json.loads((tmp_path / "mixed" / "config.json").read_text())
    assert cfg["batch_size"] == 16 and cfg["optim"]["lr"] == 0.02


def test_unknown_flag_is_rejected(capsys):
    assert main(["train", "--epochz", "3"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --epochz" in err and err.count("\n") == 1


def test_a_closed_pipe_ends_quietly():
    """`resnets recipes | head -1`: the reader goes away; no traceback, no error message."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "resnets.cli", "recipes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads what it prints
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode == 1


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def main_interrupted(argv):
    """main(argv)'s status; a KeyboardInterrupt escaping it fails the test, not the session."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped main() as a KeyboardInterrupt (a traceback)")


@pytest.mark.parametrize("command", sorted(COMMANDS) + sorted(APP_COMMANDS))
def test_ctrl_c_during_start_up_is_one_line_and_status_130(command, monkeypatch, capsys):
    if command in APP_COMMANDS:
        module, _, func = APP_COMMANDS[command][0].partition(":")
        monkeypatch.setattr(importlib.import_module(module), func, _ctrl_c)
    else:
        monkeypatch.setitem(COMMANDS, command, _ctrl_c)
    argv = {"evaluate": ["evaluate", "x"], "predict": ["predict", "--checkpoint", "x", "y"],
            "experiment": ["experiment", "degradation"],
            "export": ["export", "x", "--format", "onnx", "--out", "x.onnx"],
            "average": ["average", "x", "y", "--out", "z"]}.get(command, [command])
    assert main_interrupted(argv) == 130
    err = capsys.readouterr().err
    assert err == f"resnets {command}: interrupted (Ctrl-C)\n"


def test_ctrl_c_while_the_data_is_read_is_one_line(tmp_path, monkeypatch, capsys):
    from resnets.train import classification

    monkeypatch.setattr(classification, "build_pipeline", _ctrl_c)
    assert main_interrupted(["train", *TINY, "--out", str(tmp_path), "--name", "early"]) == 130
    assert capsys.readouterr().err == "resnets train: interrupted (Ctrl-C)\n"


def test_predict_of_an_unreadable_image_suggests_no_missing_option(run_dir, tmp_path, capsys):
    image = tmp_path / "broken.png"
    image.write_bytes(b"\x89PNG not really")
    assert main(["predict", "--checkpoint", str(run_dir), str(image)]) == 2
    err = capsys.readouterr().err
    assert "cannot decode image" in err and "broken.png" in err
    assert "skip_corrupt" not in err and err.count("\n") == 1


def test_the_command_imports_no_torch_before_main_runs():
    """Start-up (Ctrl-C included) runs inside main() only if importing the CLI is light."""
    probe = "import sys, resnets.cli; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_a_real_ctrl_c_during_start_up_exits_130_without_a_traceback(tmp_path):
    import signal

    # -X importtime reports each finished import on stderr; torch is first imported by
    # main() (see the test above), so a line about torch means the start-up is under way.
    argv = [sys.executable, "-X", "importtime", "-m", "resnets.cli", "train", *TINY,
            "--out", str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "| " in line and line.split("| ")[-1].strip().startswith("torch"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "resnets train: interrupted (Ctrl-C)"
    assert not list(tmp_path.iterdir())  # nothing was started


def test_print_config_is_the_config_json_of_the_run_it_describes(run_dir, tmp_path, capsys):
    capsys.readouterr()
    argv = ["train", *TINY, "--out", str(run_dir.parent), "--name", "cli", "--print-config"]
    assert main(argv) == 0
    assert capsys.readouterr().out == (run_dir / "config.json").read_text()
    # A run's own config.json fed back: the same settings, in a run directory of its own.
    assert main(["train", "--config", str(run_dir / "config.json"), "--print-config"]) == 0
    assert capsys.readouterr().out == (run_dir / "config.json").read_text()
    assert main(["train", "--config", str(run_dir / "config.json")]) == 2
    assert f"resume it with --resume {run_dir}" in capsys.readouterr().err
    assert main(["train", "--config", str(run_dir / "config.json"), "--name", "again",
                 "--print-config"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again == {**json.loads((run_dir / "config.json").read_text()), "run_name": "again"}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_printed_config_fed_back_trains_the_same_run(fmt, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", *TINY, "--out", str(out), "--print-config", "--format", fmt]) == 0
    assert not out.exists()  # printing reads no data and makes nothing
    path = tmp_path / f"run.{fmt}"
    path.write_text(capsys.readouterr().out)
    assert main(["train", "--config", str(path)]) == 0
    capsys.readouterr()
    [made] = out.iterdir()  # the run's default name, as with the original flags
    assert main(["train", *TINY, "--out", str(out), "--print-config"]) == 0
    assert (made / "config.json").read_text() == capsys.readouterr().out


def test_flags_and_settings_win_over_the_file_and_resume_refuses_it(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nseed: 5\noptim: {lr: 0.01}\n")
    assert main(["train", "--config", str(path), "--epochs", "4", "epochs=6", "seed=9",
                 "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["epochs"], cfg["seed"], cfg["optim"]["lr"]) == (6, 9, 0.01)
    assert main(["train", "--resume", str(tmp_path), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "drop --config" in err and err.count("\n") == 1
    assert main(["train", "--format", "yaml", "--out", str(tmp_path / "runs")]) == 2
    assert "add --print-config" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("optim: {lrr: 0.1}\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"resnets: error: --config {str(path)!r}: unknown setting")
    assert err.count("\n") == 1 and not (tmp_path / "runs").exists()
