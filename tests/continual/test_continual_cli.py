"""`resnets continual` end to end on tiny synthetic data, and its refusals."""

import csv
import json

import pytest

from resnets.cli import main
from resnets.continual import metrics

TINY = ["--data", "synthetic", "--synthetic-size", "48", "--resize", "8", "--tasks", "2",
        "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--fisher-samples", "8",
        "--memory", "6"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("continual")
    code = main(["continual", "--strategy", "finetune,replay,ewc,lwf", *TINY, "--out",
                 str(out)])
    assert code == 0
    return out


def test_every_strategy_writes_a_run_directory_whose_scores_match_its_matrix(compared):
    for strategy in ("finetune", "replay", "ewc", "lwf"):
        run_dir = compared / f"continual-{strategy}-synthetic"
        config = json.loads((run_dir / "config.json").read_text())
        assert config["task"] == "continual"
        assert config["continual"]["strategy"] == strategy and config["continual"]["tasks"] == 2
        with open(run_dir / "accuracy_matrix.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        matrix = [[float(row["task1"]), float(row["task2"])] for row in rows]
        saved = json.loads((run_dir / "accuracy_matrix.json").read_text())["matrix"]
        assert sum(saved, []) == pytest.approx(sum(matrix, []), abs=1e-6)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["average_accuracy"] == pytest.approx(
            metrics.average_accuracy(matrix), abs=1e-6)
        assert summary["backward_transfer"] == pytest.approx(matrix[1][0] - matrix[0][0],
                                                             abs=1e-6)
        assert summary["tasks"] == [[f"class{c}" for c in range(5)],
                                    [f"class{c}" for c in range(5, 10)]]
        assert (run_dir / "accuracy_matrix.png").read_bytes()[:4] == b"\x89PNG"
        assert (run_dir / "model.safetensors").stat().st_size > 0
        # No temporary files left behind; .lock is the run directory's lock (kept).
        assert [p.name for p in run_dir.glob(".*")] == [".lock"]
        # Each experience is an engine run of its own, in the sequence's directory.
        for k in (1, 2):
            experience = run_dir / f"experience-{k}"
            assert json.loads((experience / "summary.json").read_text())[
                "accuracy_task1"] == pytest.approx(matrix[k - 1][0], abs=1e-6)
            assert (experience / "last.pt").is_file() and (experience / "strategy.pt").is_file()


def test_replay_summary_records_a_class_balanced_memory(compared):
    summary = json.loads((compared / "continual-replay-synthetic" / "summary.json").read_text())
    state = summary["strategy_state"]
    # after 2 tasks of 5 classes: 6 places shared by 10 classes, at most 1 each
    assert state["memory_size"] == 6 and set(state["memory_per_class"].values()) == {1}
    ewc = json.loads((compared / "continual-ewc-synthetic" / "summary.json").read_text())
    assert ewc["strategy_state"]["anchored_tasks"] == 2


@pytest.mark.parametrize("args, message", [
    (["--strategy", "replya"], "continual.strategy must be one of finetune, replay, ewc, lwf, "
                               "got 'replya' (did you mean 'replay'?)"),
    (["--data", "cifar10"], "needs --root"),
    (["--tasks", "11"], "between 1 and 10"),
    (["--lr", "0"], "optim.lr must be a finite number in (0, 10], got 0"),
    (["--run-name", "a/b"], "--run-name 'a/b' is not a folder name"),
    (["--run-name", ".."], "--run-name '..' is not a folder name"),
    (["--model", "resnet21"], "resnet21"),
    (["--strategy", "replay,ewc", "--run-name", "x"], "--run-name names one run"),
    (["--strategy", "replay,replay"], "names a strategy twice"),
    (["--strategy", "replay,ewc", "--resume", "runs/x"], "--resume continues one run"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, args, message):
    code = main(["continual", *TINY, "--out", str(tmp_path), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not any(tmp_path.iterdir())  # refused before any work


def test_a_finished_run_is_not_overwritten(compared, capsys):
    code = main(["continual", "--strategy", "lwf,finetune", *TINY, "--out", str(compared)])
    err = capsys.readouterr().err
    assert code == 2 and "already holds a finished run" in err


def test_an_unfinished_run_directory_is_not_reused(tmp_path, capsys):
    run = tmp_path / "continual-finetune-synthetic"
    run.mkdir()
    (run / "config.json").write_text("{}")  # a run that stopped before its summary
    code = main(["continual", "--strategy", "finetune", *TINY, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "already exists; resume it with --resume" in err
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_printed_config_fed_back_reproduces_the_run(compared, tmp_path, capsys):
    run = compared / "continual-finetune-synthetic"
    saved = (run / "config.json").read_text()
    out = tmp_path / "again"
    capsys.readouterr()
    assert main(["continual", *TINY, "--out", str(out), "--print-config"]) == 0
    assert capsys.readouterr().out == saved.replace(str(compared), str(out))  # nothing run
    assert main(["continual", "--config", str(run / "config.json"), "--out", str(out),
                 "--print-config", "--format", "yaml"]) == 0
    (tmp_path / "run.yaml").write_text(capsys.readouterr().out)
    assert not out.exists()
    assert main(["continual", "--config", str(tmp_path / "run.yaml")]) == 0
    again = out / "continual-finetune-synthetic"
    assert (again / "config.json").read_text() == saved.replace(str(compared), str(out))
    assert (again / "accuracy_matrix.csv").read_text() == (
        run / "accuracy_matrix.csv").read_text()


def test_options_win_over_the_config_file_and_a_bad_one_is_one_line(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("continual:\n  tasks: 3\n  augment: false\n  strategy: replay\n"
                    "optim:\n  lr: 0.2\n")
    assert main(["continual", "--config", str(path), "--tasks", "2", "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    c = cfg["continual"]
    assert (c["tasks"], cfg["optim"]["lr"], c["augment"], c["strategy"]) == (2, 0.2, False,
                                                                             "replay")
    for text, says in (("optim:\n  lr: 50\n", "optim.lr must be a finite number in (0, 10], "
                                               "got 50"),
                       ("lrr: 0.1\n", "unknown setting 'lrr'")):
        path.write_text(text)
        assert main(["continual", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--config {str(path)!r}" in err and says in err, err
    assert main(["continual", "--strategy", "replay,ewc", "--print-config"]) == 2
    assert "name one --strategy" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
