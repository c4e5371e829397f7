"""Reading a run directory back: a damaged config.json is one line, before any work."""

import json

import pytest

from resnets.cli import main
from resnets.readback import ReadBackError
from resnets.train.config import TrainConfig, to_dict
from resnets.train.setup import load_run_config


@pytest.mark.parametrize("content, fragment", [
    (b"", "is not valid JSON"),
    (b"\x80\x81", "is not UTF-8 text"),
    (b'["model"]', "holds an array"),
    (b"[" * 50000, "nests more than 32 levels deep"),
    (json.dumps({**to_dict(TrainConfig()), "epochs": -0.5}).encode(),
     "epochs=-0.5 is not a valid integer"),
])
def test_a_damaged_run_config_is_refused_in_one_line(tmp_path, content, fragment):
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ReadBackError) as info:
        load_run_config(tmp_path)
    assert fragment in str(info.value) and "start a new run" in str(info.value)


def test_resume_with_a_damaged_config_exits_2_in_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_bytes(b"[" * 100000)
    assert main(["train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resnets: error: run config") and err.count("\n") == 1


def test_a_written_config_reads_back_equal(tmp_path):
    cfg = TrainConfig(epochs=3)
    (tmp_path / "config.json").write_text(json.dumps(to_dict(cfg)), encoding="utf-8")
    assert load_run_config(tmp_path) == cfg
