"""Runs written before a setting existed: resumed, evaluated and read back with its default,
named once in a notice; an unknown setting stays an error."""

import json

import pytest

from launching import interrupt, same_weights
from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.train.checkpoint import load_checkpoint, save_checkpoint
from resnets.train.config import TrainConfig, from_dict, to_dict

TINY = ["train", "--recipe", "synthetic-smoke", "--epochs", "2", "--device", "cpu",
        "data.synthetic_size=32", "batch_size=16", "eval_batch_size=32", "deterministic=true"]
NEWER = (("data", "eval_flip"), ("optim", "swa_start"))  # "added after the run was written"


def make_old(run):
    """Strip the NEWER settings from the run's config.json and its checkpoint's config."""
    data = json.loads((run / "config.json").read_text())
    for section, name in NEWER:
        data[section].pop(name, None)  # a resume leaves config.json as it was
    (run / "config.json").write_text(json.dumps(data))
    state = load_checkpoint(run / "last.pt")
    for section, name in NEWER:
        del state["config"][section][name]
    save_checkpoint(run / "last.pt", state, keep_previous=False)


def notices(err):
    return [line for line in err.splitlines() if "was written before settings" in line]


def test_an_old_run_resumes_bit_for_bit_and_evaluates_with_the_defaults(tmp_path, capsys,
                                                                        monkeypatch):
    assert main([*TINY, "--out", str(tmp_path), "--name", "straight"]) == 0
    command = interrupt([*TINY, "--out", str(tmp_path), "--name", "old"], monkeypatch,
                        capsys, step=3)
    make_old(tmp_path / "old")
    assert main(command[1:]) == 0
    notice, = notices(capsys.readouterr().err)  # once, though read twice
    assert notice == (f"resnets: note: run config {str(tmp_path / 'old/config.json')!r} was "
                      "written before settings optim.swa_start, data.eval_flip existed: "
                      "using their defaults (optim.swa_start=0.0, data.eval_flip=False)")
    assert same_weights(tmp_path / "old", tmp_path / "straight")
    make_old(tmp_path / "old")
    assert main(["evaluate", str(tmp_path / "old")]) == 0
    notice, = notices(capsys.readouterr().err)
    assert "optim.swa_start, data.eval_flip existed" in notice


def test_an_unknown_setting_is_still_refused():
    data = to_dict(TrainConfig())
    data["optim"]["momentun"] = 0.9
    with pytest.raises(ResnetsError, match="unknown settings optim.momentun"):
        from_dict(data, "run config 'x'")
    with pytest.raises(ResnetsError, match="'x' has no settings"):
        from_dict({"task": "classification"}, "run config 'x'")
