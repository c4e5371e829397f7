"""`resnets attack` end to end on a tiny digits run, and its one-line errors."""

import json

import pytest

from resnets.cli import main
from resnets.train.engine import train
from resnets.train.inference import evaluate_checkpoint
from resnets.train.recipes import recipe_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    # About 80% test accuracy: enough for the attacks to have something to break.
    cfg = recipe_config("digits-resnet20", {"data.train_fraction": "0.5", "batch_size": "32",
                                            "iterations": "40", "schedule.warmup_iters": "5",
                                            "device": "cpu", "out_dir": str(out),
                                            "run_name": "tiny"})
    train(cfg)
    return out / "tiny"


def attack(*args):
    return main(["attack", *args, "--device", "cpu"])


def test_at_eps_zero_every_attack_leaves_the_clean_accuracy(run_dir, capsys):
    assert attack("--checkpoint", str(run_dir), "--eps", "0", "--steps", "1",
                  "--queries", "2") == 0
    report = json.loads((run_dir / "attack-test.json").read_text())
    evaluation = evaluate_checkpoint(run_dir, out_dir=str(run_dir / "eval"))
    assert report["images"] == evaluation["images"] == 359
    assert report["clean_accuracy"] == pytest.approx(1 - evaluation["top1_error"])
    for name in ("fgsm", "pgd", "square"):
        assert report["robust_accuracy"][name] == report["clean_accuracy"]
        assert report["largest_perturbation"][name] == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["clean", "accuracy", f"{100 * report['clean_accuracy']:.2f}%"]


def test_attack_report_orders_clean_attacks_and_worst_case(run_dir, capsys, tmp_path):
    assert attack("--checkpoint", str(run_dir / "last.pt"), "--eps", "16/255", "--limit", "32",
                  "--steps", "3", "--restarts", "2", "--queries", "30", "--checks",
                  "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "attack-test.json").read_text())
    assert report["images"] == 32 and report["settings"]["eps"] == pytest.approx(16 / 255)
    robust = report["robust_accuracy"]
    assert report["worst_case_accuracy"] <= min(robust.values())
    assert max(robust.values()) <= report["clean_accuracy"]
    assert report["worst_case_accuracy"] < report["clean_accuracy"]  # the attacks bite
    assert max(report["largest_perturbation"].values()) <= 16 / 255 + 1e-6
    assert [c["name"] for c in report["checks"]][0].startswith("robust accuracy falls")
    assert "PGD-3 linf, step 0.05229, 2 restarts" in out  # 2.5 * (16/255) / 3
    assert out.count("PASS") + out.count("FAIL") == 5


@pytest.mark.parametrize("args, message", [
    (["--eps", "8/0"], "argument --eps: must be a finite number in [0, 100], got '8/0'"),
    (["--eps", "-0.1"], "argument --eps: must be a finite number in [0, 100], got '-0.1'"),
    (["--eps", "nan"], "argument --eps: must be a finite number in [0, 100], got 'nan'"),
    (["--eps", "inf"], "argument --eps: must be a finite number in [0, 100], got 'inf'"),
    (["--eps", "0.1", "--attacks", "pgd,sqare"], "unknown attack 'sqare' (did you mean "
                                                 "'square'?)"),
    (["--eps", "0.1", "--norm", "l2", "--attacks", "square"], "the square attack here is the "
                                                              "L-inf one"),
    (["--eps", "0.1", "--norm", "linf2"], "--norm: must be one of linf, l2, got 'linf2' "
                                          "(did you mean 'linf'"),
    (["--eps", "0.1", "--steps", "0"], "--steps: must be an integer in [1, 10000], got '0'"),
    (["--eps", "0.1", "--limit", "-1"], "--limit: must be an integer in [0, 1000000000]"),
])
def test_bad_arguments_fail_in_one_line_before_the_checkpoint_is_read(args, message, capsys,
                                                                      tmp_path):
    missing = tmp_path / "no-such-run"  # never read: the arguments fail first
    assert attack("--checkpoint", str(missing), *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resnets attack: error: ") and message in err
    assert "\n" not in err and "Traceback" not in err


def test_a_second_report_does_not_overwrite_the_first(run_dir, capsys, tmp_path):
    for eps in ("0", "4/255"):
        assert attack("--checkpoint", str(run_dir), "--eps", eps, "--attacks", "fgsm",
                      "--limit", "8", "--out", str(tmp_path)) == 0
    first = json.loads((tmp_path / "attack-test.json").read_text())
    second = json.loads((tmp_path / "attack-test-2.json").read_text())
    assert first["settings"]["eps"] == 0 and second["settings"]["eps"] == pytest.approx(4 / 255)
    assert f"report: {tmp_path / 'attack-test-2.json'}" in capsys.readouterr().out


def test_missing_checkpoint_and_missing_split_are_named(run_dir, capsys, tmp_path):
    assert attack("--checkpoint", str(tmp_path / "nothing"), "--eps", "0.1") == 2
    assert "is neither a run directory nor a checkpoint file" in capsys.readouterr().err
    assert attack("--checkpoint", str(run_dir), "--eps", "0.1", "--split", "val") == 2
    assert "no validation split" in capsys.readouterr().err


def test_attack_published_weights_on_an_imagenet_folder(tmp_path, monkeypatch):
    import torch
    import torchvision

    from published_weights import arrange, place_in_cache

    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    place_in_cache(monkeypatch, tmp_path, "resnet18", state)
    root, _, _ = arrange(tmp_path, state, ranks=(0, 3))  # clean: one of the two is right
    out = tmp_path / "report"
    assert attack("--model", "resnet18", "--weights", "imagenet", "--root", str(root),
                  "--eps", "0", "--attacks", "fgsm", "--out", str(out)) == 0
    report = json.loads((out / "attack-folder.json").read_text())
    assert report["images"] == 2 and report["clean_accuracy"] == 0.5
    assert report["robust_accuracy"]["fgsm"] == 0.5  # eps 0 changes nothing
    assert report["model"] == "resnet18" and report["weights"] == "imagenet:v1"


@pytest.mark.parametrize("args, message", [
    (["--model", "resnet18"], "pass --root FOLDER"),
    (["--model", "resnet20", "--root", "."], "resnet20 has no published ImageNet weights"),
    (["--model", "resnet18", "--checkpoint", "RUN"], "not allowed with argument"),
    ([], "one of the arguments --checkpoint --model is required"),
])
def test_bad_published_sources_fail_in_one_line(args, message, capsys):
    assert attack(*args, "--eps", "0") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resnets attack: error: ") and message in err and "\n" not in err
