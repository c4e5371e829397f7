"""Each `resnets experiment` command end to end on tiny synthetic data, and its resume."""

import csv
import dataclasses
import json
import math

import pytest

from resnets.cli import main
from resnets.experiments import catalog, command, runner
from resnets.experiments.report import percent
from resnets.experiments.settings import ExperimentConfig
from resnets.train.checkpoint import CheckpointManager
from resnets.train.engine import Hook

from launching import assert_members_match

TINY = ["--data", "synthetic", "--device", "cpu", "data.synthetic_size=40", "data.resize=8",
        "batch_size=8", "eval_batch_size=64"]


def run(tmp_path_factory, name, *args):
    out = tmp_path_factory.mktemp(name) / "exp"
    assert main(["experiment", name, *args, *TINY, "--out", str(out)]) == 0
    return out


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000


@pytest.fixture(scope="module")
def degradation(tmp_path_factory):
    return run(tmp_path_factory, "degradation", "--budget", "3", "--depths", "8,14",
               "--seeds", "2")


def test_degradation_writes_figure_tables_report_and_member_runs(degradation):
    out = degradation
    for name in ("experiment.json", "report.md", "curves.csv", "final_errors.csv"):
        assert (out / name).is_file(), name
    check_png(out / "degradation.png")
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == sorted(f"{n}{d}-seed{s}" for n in ("plain", "resnet") for d in (8, 14)
                          for s in (0, 1))
    for run_dir in (out / "runs").iterdir():
        config = json.loads((run_dir / "config.json").read_text())
        assert config["iterations"] == 3 and config["data"]["dataset"] == "synthetic"
        assert (run_dir / "summary.json").is_file() and (run_dir / "last.pt").is_file()
    report = (out / "report.md").read_text()
    assert "![" in report and "(degradation.png)" in report
    assert "resnets experiment degradation --data synthetic --budget 3" in report


def test_degradation_numbers_come_from_the_runs_and_reach_the_report(degradation):
    out = degradation
    rows = read_csv(out / "final_errors.csv")
    assert len(rows) == 8
    for row in rows:
        run_dir = out / "runs" / f"{row['network']}{row['depth']}-seed{row['seed']}"
        last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
        assert float(row["train_error"]) == last["train_error"]
        assert float(row["test_error"]) == last["test_error"]
    report = (out / "report.md").read_text()
    for net in ("plain", "resnet"):
        for depth in ("8", "14"):
            values = [float(r["train_error"]) for r in rows
                      if (r["network"], r["depth"]) == (net, depth)]
            mean = sum(values) / 2
            std = math.sqrt(sum((v - mean) ** 2 for v in values))  # n - 1 = 1
            assert f"| {net} | {depth} | {percent(mean, std)} |" in report
    curves = read_csv(out / "curves.csv")
    assert {r["step"] for r in curves} == {"3"} and len(curves) == 8


def test_running_again_skips_finished_members(degradation, capsys):
    mtimes = {p: p.stat().st_mtime_ns for p in (degradation / "runs").glob("*/summary.json")}
    assert main(["experiment", "degradation", "--budget", "3", "--depths", "8,14",
                 "--seeds", "2", *TINY, "--out", str(degradation)]) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier, skipped") == 8 and ": training" not in out
    assert mtimes == {p: p.stat().st_mtime_ns for p in mtimes}


def test_other_settings_in_the_same_directory_are_refused(degradation, capsys):
    code = main(["experiment", "degradation", "--budget", "5", *TINY, "--out",
                 str(degradation)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "budget: '3' there, '5' now" in err and "--resume" in err


class StopAt(Hook):
    """Ask the loop to stop after ``step``, as Ctrl-C does."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, ctx):
        if ctx.step == self.step:
            ctx.stop_requested = True


def test_interrupted_experiment_resumes_to_the_same_weights(tmp_path, monkeypatch, capsys):
    args = ["--budget", "7", "--depths", "8", *TINY, "deterministic=true"]
    assert main(["experiment", "degradation", *args, "--out", str(tmp_path / "ref")]) == 0
    real_train = runner.train

    def interrupted_train(cfg, resume_dir=None, hooks=()):
        if cfg.run_name == "resnet8-seed0" and resume_dir is None:
            hooks = [*hooks, StopAt(3)]
        return real_train(cfg, resume_dir=resume_dir, hooks=hooks)

    monkeypatch.setattr(runner, "train", interrupted_train)
    out = tmp_path / "exp"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["experiment", "degradation", *args, "--out", str(out)])
    assert f"resnets experiment --resume {out}" in capsys.readouterr().out
    assert not (out / "runs/resnet8-seed0/summary.json").exists()
    assert not (out / "report.md").exists()
    assert main(["experiment", "--resume", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "plain8-seed0: finished earlier, skipped" in printed
    assert "resnet8-seed0: resuming from its last checkpoint" in printed
    assert_members_match(out, tmp_path / "ref", ("plain8-seed0", "resnet8-seed0"), 7)
    def errors(path):
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in read_csv(path)]

    assert errors(out / "final_errors.csv") == errors(tmp_path / "ref/final_errors.csv")


def test_gradients_records_every_conv_at_init_and_step_k(tmp_path_factory):
    out = run(tmp_path_factory, "gradients", "--budget", "2", "--depths", "8,14")
    norms = read_csv(out / "grad_norms.csv")
    for net in ("plain", "resnet"):
        for depth in (8, 14):
            mine = [r for r in norms if (r["network"], r["depth"]) == (net, str(depth))]
            assert {r["step"] for r in mine} == {"0", "2"}
            assert len(mine) == 2 * (depth - 1)  # every conv; the other layer is the fc
            assert all(float(r["grad_norm"]) > 0 for r in mine)
    ratios = read_csv(out / "ratios.csv")
    report = (out / "report.md").read_text()
    for r in ratios:
        mine = sorted((x for x in norms if (x["network"], x["depth"], x["step"])
                       == (r["network"], r["depth"], r["step"])), key=lambda x: int(x["layer"]))
        want = float(mine[0]["grad_norm"]) / float(mine[-1]["grad_norm"])
        assert float(r["ratio"]) == pytest.approx(want)
        assert f"{float(r['ratio']):.3g}" in report
    check_png(out / "gradients.png")
    check_png(out / "gradient_ratio.png")
    assert "(gradients.png)" in report and "(gradient_ratio.png)" in report
    for run_dir in (out / "runs").iterdir():
        assert json.loads((run_dir / "summary.json").read_text())["steps"] == 3


def test_responses_measures_each_3x3_layer_of_the_trained_nets(tmp_path_factory):
    out = run(tmp_path_factory, "responses", "--budget", "2", "--depths", "8,14")
    rows = read_csv(out / "responses.csv")
    report = (out / "report.md").read_text()
    for net in ("plain", "resnet"):
        for depth in (8, 14):
            stds = [float(r["std"]) for r in rows
                    if (r["network"], r["depth"]) == (net, str(depth))]
            assert len(stds) == depth - 1 and all(0 < s < math.inf for s in stds)
            assert f"| {net} | {depth} | {depth - 1} | {sum(stds) / len(stds):.3f} |" in report
    check_png(out / "responses.png")


def test_shortcuts_compares_options_a_b_c_with_their_parameter_counts(tmp_path_factory):
    out = run(tmp_path_factory, "shortcuts", "--budget", "2", "--depths", "8")
    rows = {r["shortcut"]: r for r in read_csv(out / "final_errors.csv")}
    assert sorted(rows) == ["A", "B", "C"]
    params = [int(rows[o]["parameters"]) for o in "ABC"]
    assert params[0] < params[1] < params[2]  # A adds none, B two projections, C one per block
    report = (out / "report.md").read_text()
    for option in "ABC":
        assert f"| {option} | 8 | {int(rows[option]['parameters']) / 1e6:.3f}M | " in report
    check_png(out / "shortcuts.png")


def test_preact_compares_the_two_units_at_110_layers(tmp_path_factory):
    out = run(tmp_path_factory, "preact", "--budget", "1")
    rows = {r["unit"]: r for r in read_csv(out / "final_errors.csv")}
    assert sorted(rows) == ["original", "pre-activation"]
    configs = {p.name: json.loads((p / "config.json").read_text())["model"]
               for p in (out / "runs").iterdir()}
    assert configs["original110-seed0"]["name"] == "cifar_resnet"
    assert configs["original110-seed0"]["depth"] == 110
    assert configs["preactivation110-seed0"]["name"] == "preact_resnet110"
    assert {c["shortcut"] for c in configs.values()} == {"B"}
    check_png(out / "preact.png")


@pytest.mark.parametrize("args, message", [
    (["degradation", "--data", "cifar10"], "needs --root"),
    (["degradation", "--data", "cifar10", "--root", "/no/such/folder"], "not a folder"),
    (["degradation", "--budget", "ten"], "--budget"),
    (["degradation", "--depths", "10"], "depth 10"),
    (["preact", "--depths", "56"], "cannot run depth 56"),
    (["gradients", "--budget", "3e"], "in steps"),
    (["degradation", "optim.lrr=0.1"], "optim.lrr"),
    (["degradation", "optim.momentum=1.5"], "optim.momentum"),
    ([], "name the experiment"),
])
def test_user_errors_are_one_line_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "exp"
    extra = ["--out", str(out)] if args else []
    assert main(["experiment", *args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_resume_takes_no_other_settings(tmp_path, capsys):
    assert main(["experiment", "--resume", str(tmp_path)]) == 2
    assert "not an experiment directory" in capsys.readouterr().err


def test_command_names_are_the_catalog():
    assert list(command.NAMES) == list(catalog.EXPERIMENTS)


def test_an_image_folder_trains_the_networks_at_32_pixels(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 2)):
        for name in ("cat", "dog"):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "exp"
    assert main(["experiment", "degradation", "--data", "folder", "--root",
                 str(tmp_path / "images"), "--budget", "2", "--depths", "8", "--device", "cpu",
                 "--out", str(out), "batch_size=4", "data.workers=0"]) == 0
    for run_dir in (out / "runs").iterdir():
        state = CheckpointManager(run_dir).load_latest()
        assert state["image_size"] == 32 and state["classes"] == ["cat", "dog"]
    assert len(read_csv(out / "final_errors.csv")) == 2


@pytest.mark.parametrize("content, message", [
    ('{"name": "degradation", "seedz": [0]}', "has unknown keys 'seedz'"),
    (json.dumps({**dataclasses.asdict(ExperimentConfig("degradation")), "seeds": "0"}),
     "'seeds' is a string ('0'), expected list"),
    ("[" * 10000, "nests more than 32 levels deep"),
])
def test_damaged_experiment_settings_are_one_line(tmp_path, capsys, content, message):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "experiment.json").write_text(content)
    assert main(["experiment", "degradation", *TINY, "--out", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_damaged_member_summary_is_one_line(degradation, tmp_path, capsys):
    import shutil

    copy = tmp_path / "exp"
    shutil.copytree(degradation, copy)
    next((copy / "runs").glob("*/summary.json")).write_bytes(b'{"steps": 3,')
    assert main(["experiment", "degradation", "--budget", "3", "--depths", "8,14",
                 "--seeds", "2", *TINY, "--out", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "run summary" in err and "is not valid JSON" in err
    assert len(err.strip().splitlines()) == 1
