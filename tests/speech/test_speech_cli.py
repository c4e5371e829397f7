"""`resnets speech` and `resnets train data.dataset=speech` end to end on a tiny folder."""

from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pytest

from launching import interrupt, same_weights, torchrun
from resnets.cli import main
from resnets.train.config import TrainConfig, to_dict
from resnets.speech.demo import DemoConfig, make_demo
from resnets.speech.wav import read_wav, write_wav

TRAIN = ["--model", "res8_narrow", "--batch-size", "6", "schedule.warmup_iters=0",
         "eval_batch_size=64", "device=cpu"]


def test_train_evaluate_predict(commands, tmp_path, capsys, synthetic_sound):
    code = main(["speech", "train", "--root", str(commands), "--epochs", "12", "--lr", "0.05",
                 "--out", str(tmp_path / "runs"), "--name", "kws", *TRAIN])
    assert code == 0
    out = capsys.readouterr().out
    run = tmp_path / "runs" / "kws"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 * 3 and f"run directory: {run}" in out
    assert summary["test_accuracy"] >= 0.8  # chirps, noise bursts and tones: easy to tell apart

    assert main(["speech", "evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    report = json.loads((run / "evaluation-test.json").read_text())
    assert report["images"] == 9 and "(9 samples)" in out
    assert set(report["per_class_accuracy"]) == {"chirp", "noise", "tone"}
    assert report["per_class_recall"] == pytest.approx(report["per_class_accuracy"])
    assert f"macro precision {100 * report['macro_precision']:.2f}%" in out
    assert (run / "reliability-test.png").is_file()

    rng = np.random.default_rng(5)
    clips = []
    for kind in ("tone", "chirp"):
        clips.append(tmp_path / f"{kind}.wav")
        write_wav(clips[-1], synthetic_sound(kind, rng, rate=22050), 22050)  # resampled
    assert main(["speech", "predict", *map(str, clips), "--checkpoint", str(run),
                 "--topk", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("tone.wav") and lines[1].split()[0] == "tone"
    assert lines[3].endswith("chirp.wav") and lines[4].split()[0] == "chirp"
    assert len(lines) == 6


def test_the_generic_train_command_uses_the_speech_pipeline(commands, tmp_path, capsys):
    code = main(["train", "data.dataset=speech", f"data.root={commands}",
                 "model.name=res8_narrow", "iterations=2", "batch_size=6", "device=cpu",
                 f"out_dir={tmp_path}", "run_name=generic", "data.augment=none"])
    assert code == 0
    config = json.loads((tmp_path / "generic" / "config.json").read_text())
    assert config["data"]["dataset"] == "speech"
    assert "test accuracy" in capsys.readouterr().out



def test_the_generic_train_command_runs_the_speech_recipe(commands, tmp_path):
    assert main(["train", "--recipe", "speech-commands-res8", f"data.root={commands}",
                 "model.name=res8_narrow", "iterations=1", "batch_size=6", "device=cpu",
                 f"out_dir={tmp_path}", "run_name=r"]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["recipe"], config["data"]["dataset"]) == ("speech-commands-res8", "speech")


def test_an_interrupted_run_resumed_with_speech_train_resume_is_bitwise_identical(
        commands, tmp_path, capsys, monkeypatch):
    args = ["speech", "train", "--root", str(commands), "--epochs", "2", "--out",
            str(tmp_path), *TRAIN, "deterministic=true"]
    assert main([*args, "--name", "whole"]) == 0
    resume = interrupt([*args, "--name", "split"], monkeypatch, capsys, step=4)  # mid-epoch
    assert resume == ["resnets", "speech", "train", "--resume", str(tmp_path / "split")]
    assert main(resume[1:]) == 0  # no --root: the run's own settings
    assert "resumed" in capsys.readouterr().out
    assert same_weights(tmp_path / "whole", tmp_path / "split")
    assert main(["speech", "train", "--resume", str(tmp_path / "split"), "--model", "res8"]) == 2
    assert "drop model.name=res8" in capsys.readouterr().err  # the rules of `train --resume`


def test_speech_train_needs_root_or_resume_and_resumes_only_speech_runs(tmp_path, capsys):
    assert main(["speech", "train", "iterations=1"]) == 2
    assert "--root is required" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(to_dict(TrainConfig())))
    assert main(["speech", "train", "--resume", str(tmp_path / "run")]) == 2
    assert ("not of `resnets speech train`; resume it with `resnets train --resume`"
            in capsys.readouterr().err)


def test_printed_config_fed_back_trains_the_same_speech_run(commands, tmp_path, capsys):
    args = ["speech", "train", "--root", str(commands), "--out", str(tmp_path / "runs"),
            "iterations=1", *TRAIN]
    assert main([*args, "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["model"]["name"] == "res8_narrow"
    (tmp_path / "run.json").write_text(printed)
    assert main(["speech", "train", "--config", str(tmp_path / "run.json")]) == 0
    [made] = (tmp_path / "runs").iterdir()
    assert (made / "config.json").read_text() == printed
    # The file sits over this command's defaults: what it leaves out keeps them.
    (tmp_path / "part.yaml").write_text(f"data: {{root: {commands}}}\n")
    capsys.readouterr()
    assert main(["speech", "train", "--config", str(tmp_path / "part.yaml"),
                 "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["name"] == "res8"


def test_speech_train_runs_under_torchrun_with_two_processes(commands, tmp_path):
    proc = torchrun(2, "-m", "resnets.cli", "speech", "train", "--root", str(commands),
                    "--out", str(tmp_path / "runs"), "--name", "ddp", "iterations=2", *TRAIN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    assert json.loads((tmp_path / "runs" / "ddp" / "summary.json").read_text())["steps"] == 2
    assert proc.stdout.count("run directory:") == 1  # rank 0 alone reports


def test_bad_input_is_one_line_or_skipped(commands, tmp_path, capsys):
    (commands / "noise" / "empty.wav").write_bytes(b"")
    args = ["speech", "train", "--root", str(commands), "--out", str(tmp_path),
            "iterations=1", *TRAIN]
    assert main([*args, "--name", "strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith("empty.wav: empty file (0 bytes)")
    assert main([*args, "--name", "lenient", "--skip-bad"]) == 0
    assert "skipped 1 files" in capsys.readouterr().out
    assert "empty.wav" in (tmp_path / "lenient" / "skipped.txt").read_text()
    assert main(["speech", "predict", str(commands / "noise" / "empty.wav"), "--checkpoint",
                 str(tmp_path / "lenient")]) == 2
    assert "empty.wav: empty file" in capsys.readouterr().err
    assert main(["speech", "train", "--root", str(tmp_path / "none"), "iterations=1"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_needs_espeak(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["speech", "demo", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert "espeak-ng is not installed" in err and "apt-get install espeak-ng" in err


FAKE_ESPEAK = """#!{python}
import sys, wave
args = sys.argv[1:]
out, speed = args[args.index("-w") + 1], int(args[args.index("-s") + 1])
with wave.open(out, "wb") as w:  # a 22.05 kHz square wave, longer when spoken slower
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
    n = 22050 * 60 // speed // 2
    w.writeframes(b"".join((8000 if (i // 20) % 2 else -8000).to_bytes(2, "little",
                  signed=True) for i in range(n)))
"""


def _stand_in_espeak(monkeypatch, folder):
    fake = folder / "espeak-ng"
    fake.parent.mkdir()
    fake.write_text(FAKE_ESPEAK.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")


def test_demo_layout_with_a_stand_in_espeak(monkeypatch, tmp_path):
    _stand_in_espeak(monkeypatch, tmp_path / "bin")
    out = tmp_path / "demo"
    counts = make_demo(str(out), DemoConfig(words=("yes", "no"), clips_per_word=10,
                                            noise_seconds=2))
    assert counts == {"train": 16, "val": 2, "test": 2, "words": 2}
    assert sorted(p.name for p in out.iterdir()) == [
        "_background_noise_", "no", "testing_list.txt", "validation_list.txt", "yes"]
    clip, rate = read_wav(next((out / "yes").glob("*.wav")))
    assert rate == 16000 and len(clip) == 16000 and 0.2 < np.abs(clip).max() < 0.95
    listed = (out / "testing_list.txt").read_text().split()
    assert len(listed) == 2 and all((out / name).is_file() for name in listed)
    assert len(read_wav(out / "_background_noise_" / "hum.wav")[0]) == 32000


def test_demo_refuses_a_folder_with_files_unless_forced(monkeypatch, tmp_path, capsys):
    _stand_in_espeak(monkeypatch, tmp_path / "bin")
    out = tmp_path / "data"
    (out / "yes").mkdir(parents=True)
    (out / "validation_list.txt").write_text("yes/mine.wav\n")
    assert main(["speech", "demo", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is not empty" in err and "--force" in err
    assert sorted(p.name for p in out.rglob("*")) == ["validation_list.txt", "yes"]
    make_demo(str(out), DemoConfig(words=("yes",), clips_per_word=10, noise_seconds=1),
              force=True)
    assert len((out / "validation_list.txt").read_text().split()) == 1
    assert len(list((out / "yes").glob("*.wav"))) == 10


def test_demo_on_a_full_disk_is_one_line(monkeypatch, tmp_path, full_disk, capsys):
    _stand_in_espeak(monkeypatch, tmp_path / "bin")
    assert main(["speech", "demo", str(full_disk / "demo")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no space left on device" in err
