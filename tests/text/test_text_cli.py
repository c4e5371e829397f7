"""`resnets text` and `resnets train data.dataset=text` end to end on tiny CSV files."""

from __future__ import annotations

import csv
import json

import pytest

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from launching import interrupt, same_weights, torchrun
from resnets.cli import main
from resnets.text.demo import TextDemoConfig, make_text_demo

SMALL = ["--model", "vdcnn9", "--batch-size", "4", "iterations=2", "eval_batch_size=16",
         "device=cpu"]


def tiny_set(root, train_rows: int = 8):
    root.mkdir()
    (root / "classes.txt").write_text("cats\ndogs\n")
    rows = [("1", "Cat news", "the cat sat on the mat"), ("2", "Dog news", "a dog barked")]
    for name, n in (("train.csv", train_rows), ("test.csv", 3)):
        with open(root / name, "w", newline="") as f:
            csv.writer(f).writerows(rows[i % 2] for i in range(n))
    return root


def test_train_evaluate_predict(tmp_path, capsys):
    root = tiny_set(tmp_path / "data")
    assert main(["text", "train", "--root", str(root), "--out", str(tmp_path), "--name", "r",
                 *SMALL]) == 0
    run = tmp_path / "r"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 2 and f"run directory: {run}" in capsys.readouterr().out
    assert main(["text", "evaluate", str(run)]) == 0
    report = json.loads((run / "evaluation-test.json").read_text())
    assert report["images"] == 3 and set(report["per_class_accuracy"]) == {"cats", "dogs"}
    # Recall is per-class accuracy under another name; the calibration bins count every text.
    assert report["per_class_recall"] == pytest.approx(report["per_class_accuracy"])
    assert sum(report["reliability"]["count"]) == 3
    out = capsys.readouterr().out
    assert f"(ECE, 15 bins) {100 * report['expected_calibration_error']:.2f}%" in out
    assert main(["text", "predict", "a cat", "a dog", "--checkpoint", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [lines[0], lines[3]] == ["a cat", "a dog"] and len(lines) == 6
    probs = [float(line.split()[1].rstrip("%")) for line in lines[1:3]]
    assert {lines[1].split()[0], lines[2].split()[0]} == {"cats", "dogs"}
    assert probs[0] >= probs[1] and abs(sum(probs) - 100) < 0.05
    assert main(["text", "predict", "  ", "--checkpoint", str(run)]) == 2
    assert "empty text" in capsys.readouterr().err


def test_generic_train_and_validation_split(tmp_path):
    root = tiny_set(tmp_path / "data", train_rows=12)
    assert main(["train", "data.dataset=text", f"data.root={root}", "model.name=vdcnn9",
                 "data.val_size=4", "iterations=1", "batch_size=4", "device=cpu",
                 f"out_dir={tmp_path}", "run_name=g"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "g" / "metrics.jsonl").open()]
    assert "val_error" in rows[-1]



def test_the_generic_train_command_runs_the_text_recipe(tmp_path):
    root = tiny_set(tmp_path / "data")
    assert main(["train", "--recipe", "ag-news-vdcnn9", f"data.root={root}", "iterations=1",
                 "batch_size=4", "eval_batch_size=16", "device=cpu", f"out_dir={tmp_path}",
                 "run_name=r"]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["recipe"], config["data"]["dataset"]) == ("ag-news-vdcnn9", "text")


def test_an_interrupted_run_resumed_with_text_train_resume_is_bitwise_identical(
        tmp_path, capsys, monkeypatch):
    root = tiny_set(tmp_path / "data")
    args = ["text", "train", "--root", str(root), "--out", str(tmp_path), *SMALL,
            "iterations=6", "deterministic=true"]  # 2 steps an epoch
    assert main([*args, "--name", "whole"]) == 0
    resume = interrupt([*args, "--name", "split"], monkeypatch, capsys, step=3)  # mid-epoch
    assert resume == ["resnets", "text", "train", "--resume", str(tmp_path / "split")]
    again = interrupt(resume[1:], monkeypatch, capsys, step=5)
    assert again == resume
    # The generic command resumes a text run as well, with the same rules.
    assert main(["train", "--resume", str(tmp_path / "split")]) == 0
    assert same_weights(tmp_path / "whole", tmp_path / "split")
    assert main([*args, "--name", "split"]) == 2  # the refusal's advice is true now
    assert f"resume it with --resume {tmp_path / 'split'}" in capsys.readouterr().err


def test_text_train_runs_under_torchrun_with_two_processes(tmp_path):
    root = tiny_set(tmp_path / "data")
    proc = torchrun(2, "-m", "resnets.cli", "text", "train", "--root", str(root), "--out",
                    str(tmp_path / "runs"), "--name", "ddp", *SMALL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    assert json.loads((tmp_path / "runs" / "ddp" / "summary.json").read_text())["steps"] == 2
    assert proc.stdout.count("run directory:") == 1  # rank 0 alone reports


def test_bad_rows_one_line_or_skipped(tmp_path, capsys):
    root = tiny_set(tmp_path / "data")
    with open(root / "train.csv", "ab") as f:
        f.write(b'"1","caf\xe9"\n"7","seven"\n"2",""\n')
    args = ["text", "train", "--root", str(root), "--out", str(tmp_path), *SMALL]
    assert main([*args, "--name", "strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{root / 'train.csv'}:9: not UTF-8" in err
    assert main([*args, "--name", "lenient", "--skip-bad"]) == 0
    assert "skipped 3 files or rows" in capsys.readouterr().out
    skipped = (tmp_path / "lenient" / "skipped.txt").read_text().splitlines()
    assert [s.rsplit(": ", 1)[0].split(":")[-1] for s in skipped] == ["9", "10", "11"]


def test_demo_set_is_learnable_and_reproducible(tmp_path, capsys):
    assert main(["text", "demo", str(tmp_path / "a"), "--train-per-class", "60",
                 "--test-per-class", "20"]) == 0
    assert "240 training and 80 test rows" in capsys.readouterr().out
    make_text_demo(str(tmp_path / "b"), TextDemoConfig(train_per_class=60, test_per_class=20))
    assert (tmp_path / "a" / "train.csv").read_bytes() == (tmp_path / "b" / "train.csv"
                                                            ).read_bytes()
    splits = {}
    for split in ("train", "test"):
        rows = list(csv.reader(open(tmp_path / "a" / f"{split}.csv", newline="")))
        splits[split] = ([r[1] + " " + r[2] for r in rows], [r[0] for r in rows])
    assert sorted(set(splits["train"][1])) == ["1", "2", "3", "4"]
    words = CountVectorizer()
    clf = LogisticRegression(max_iter=500).fit(words.fit_transform(splits["train"][0]),
                                               splits["train"][1])
    accuracy = clf.score(words.transform(splits["test"][0]), splits["test"][1])
    assert accuracy >= 0.9  # the topic words carry the label


def test_train_fraction_keeps_a_class_balanced_share(tmp_path):
    import torch

    from resnets.train.config import TrainConfig, apply_overrides
    from resnets.train.pipeline import build_pipeline

    root = tiny_set(tmp_path / "data", train_rows=12)
    cfg = apply_overrides(TrainConfig(), {"data.dataset": "text", "data.root": str(root),
                                          "data.train_fraction": "0.5", "batch_size": "2"})
    pipe = build_pipeline(cfg, torch.device("cpu"))
    assert pipe.train_size == 6  # 3 of the 6 rows of each class
    labels = torch.cat([labels for _, labels in pipe.train])
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]


def test_demo_refuses_a_folder_with_files_unless_forced(tmp_path, capsys):
    mine = tiny_set(tmp_path / "data")
    before = (mine / "train.csv").read_bytes()
    demo = ["text", "demo", str(mine), "--train-per-class", "2", "--test-per-class", "1"]
    assert main(demo) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is not empty" in err and "--force" in err
    assert (mine / "train.csv").read_bytes() == before
    (mine / "notes.txt").write_text("keep me")
    assert main([*demo, "--force"]) == 0
    assert len((mine / "train.csv").read_text().splitlines()) == 8
    assert (mine / "notes.txt").read_text() == "keep me"


def test_demo_on_a_full_disk_is_one_line(full_disk, capsys):
    assert main(["text", "demo", str(full_disk / "demo")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no space left on device" in err


def test_printed_config_fed_back_trains_the_same_run(tmp_path, capsys):
    root = tiny_set(tmp_path / "data")
    args = ["text", "train", "--root", str(root), "--out", str(tmp_path / "runs"), *SMALL]
    assert main([*args, "--print-config", "--format", "yaml"]) == 0
    assert not (tmp_path / "runs").exists()  # printing reads no data and makes nothing
    path = tmp_path / "run.yaml"
    path.write_text(capsys.readouterr().out)
    assert main(["text", "train", "--config", str(path)]) == 0
    capsys.readouterr()
    [made] = (tmp_path / "runs").iterdir()
    assert main([*args, "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert (made / "config.json").read_text() == printed
    # The run's config.json fed back is the same configuration; flags still win over it.
    assert main(["text", "train", "--config", str(made / "config.json"), "--print-config"]) == 0
    assert capsys.readouterr().out == printed
    assert main(["text", "train", "--config", str(path), "--lr", "0.5", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["optim"]["lr"] == 0.5


def test_config_file_refusals_are_one_line(tmp_path, capsys):
    bad = tmp_path / "c.json"
    bad.write_text('{"optim": {"lrr": 0.1}}')
    speech = tmp_path / "s.yaml"
    speech.write_text("data: {dataset: speech, root: x}\n")
    for argv, says in (
            (["--config", str(bad)], f"--config {str(bad)!r}: unknown setting 'optim.lrr'"),
            (["--config", str(speech)], "is for data.dataset=speech"),
            (["--resume", str(tmp_path), "--config", str(bad)], "drop --config"),
            (["--root", str(tmp_path), "--format", "yaml"], "add --print-config")):
        assert main(["text", "train", "--out", str(tmp_path / "runs"), *argv]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()
