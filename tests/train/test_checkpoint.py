import dataclasses
import errno
import hashlib
import os
import pickle
import random
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from resnets.errors import CheckpointError
from resnets.train import checkpoint as ckpt
from resnets.train.checkpoint import (CheckpointManager, CheckpointWarning, capture_rng_state,
                                      load_checkpoint, restore_rng_state, save_checkpoint)


class Payload:
    """Unpickling this runs code that creates ``marker``: a stand-in for a malicious file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).touch()",))


def _state(step):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "lr": 0.1 / (step + 1), "recipe": "cifar10-resnet20", "history": [0.5, 0.25],
            "nested": {"pair": (1, "a"), "none": None, "flag": True}}


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def test_round_trip_and_file_layout(tmp_path):
    state = _state(1)
    state["numpy"] = {"array": np.arange(4, dtype=np.int32), "scalar": np.float64(0.5)}
    path = save_checkpoint(tmp_path / "last.pt", state)
    assert _files(tmp_path) == ["last.pt", "last.pt.sha256"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "last.pt.sha256").read_text() == f"{digest}  last.pt\n"
    loaded = load_checkpoint(path)
    _assert_same({k: v for k, v in state.items() if k != "numpy"},
                 {k: v for k, v in loaded.items() if k != "numpy"})
    assert torch.equal(loaded["numpy"]["array"], torch.arange(4, dtype=torch.int32))
    assert loaded["numpy"]["scalar"] == 0.5 and type(loaded["numpy"]["scalar"]) is float
    assert loaded["model"]._metadata == state["model"]._metadata  # module versions survive
    fresh = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    fresh.load_state_dict(loaded["model"])


def test_second_save_keeps_the_previous_checkpoint(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1))
    manager.save_last(_state(2))
    assert _files(tmp_path) == sorted(["last.pt", "last.pt.sha256", "last.prev.pt",
                                       "last.prev.pt.sha256"])
    assert load_checkpoint(tmp_path / "last.prev.pt", require_checksum=True)["step"] == 1
    assert manager.load_latest()["step"] == 2
    assert manager.load_best() is None
    manager.save_best(_state(7))
    assert manager.load_best()["step"] == 7 and manager.load_latest()["step"] == 2


def test_empty_run_dir_has_no_checkpoint(tmp_path):
    assert CheckpointManager(tmp_path / "new").load_latest() is None


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


def _garble_checksum(path):
    sidecar = path.with_name(path.name + ".sha256")
    sidecar.write_text("0" * 64 + "  last.pt\n")


@pytest.mark.parametrize("tamper", [_truncate, _flip_byte, _garble_checksum])
def test_corrupt_newest_falls_back_to_previous_with_warning(tmp_path, tamper):
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1))
    manager.save_last(_state(2))
    tamper(manager.last_path)
    with pytest.warns(CheckpointWarning, match="truncated or corrupt.*previous checkpoint"):
        state = manager.load_latest()
    assert state["step"] == 1


def test_corrupt_only_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1))
    _flip_byte(manager.last_path)
    with pytest.raises(CheckpointError, match="no usable checkpoint") as info:
        manager.load_latest()
    assert "\n" not in str(info.value)


def test_failed_write_leaves_previous_intact_and_no_temp_files(tmp_path, monkeypatch):
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1))
    manager.save_last(_state(2))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="no space left on device") as info:
        manager.save_last(_state(3))
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert manager.load_latest()["step"] == 2


def test_a_full_disk_is_named_in_words_not_in_torchs_internals(full_disk):
    big = {"weights": torch.zeros(1 << 18)}  # 1 MiB, on a file system with no space left
    with pytest.raises(CheckpointError) as info:
        ckpt.save_checkpoint(full_disk / "last.pt", big)
    message = str(info.value)
    assert "last.pt': no space left on device; free some space" in message
    assert "inline_container" not in message and "\n" not in message
    assert sorted(p.name for p in full_disk.iterdir()) == [".filler"]


def test_crash_between_rename_and_checksum_falls_back(tmp_path, monkeypatch):
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1))
    manager.save_last(_state(2))
    real_write = ckpt.write_text_atomic

    def die_on_newest_checksum(path, text):
        if path.name == "last.pt.sha256":
            raise OSError(errno.EIO, "power cut")
        real_write(path, text)

    monkeypatch.setattr(ckpt, "write_text_atomic", die_on_newest_checksum)
    with pytest.raises(CheckpointError):
        manager.save_last(_state(3))
    monkeypatch.undo()
    assert not [name for name in _files(tmp_path) if name.endswith(".tmp")]
    with pytest.warns(CheckpointWarning):
        assert manager.load_latest()["step"] == 2


def test_previous_is_copied_where_hard_links_fail(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "links not supported")

    monkeypatch.setattr(ckpt.os, "link", no_links)
    manager = CheckpointManager(tmp_path)
    manager.save_last(_state(1))
    manager.save_last(_state(2))
    assert load_checkpoint(tmp_path / "last.prev.pt", require_checksum=True)["step"] == 1


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on plain pickle
@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_pickled_code_is_refused_and_never_run(tmp_path, writer):
    marker = tmp_path / "code-ran"
    path = tmp_path / "last.pt"
    if writer == "pickle":
        with open(path, "wb") as f:
            pickle.dump({"step": 1, "evil": Payload(marker)}, f)
    else:
        torch.save({"step": 1, "evil": Payload(marker)}, path)
    refusal = ("plain Python pickle" if writer == "pickle"
               else "can load safely .*pickled Python object")
    with pytest.raises(CheckpointError, match=refusal) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)
    # a matching checksum does not make it trusted either
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "last.pt.sha256").write_text(f"{digest}  last.pt\n")
    with pytest.raises(CheckpointError, match="no usable checkpoint.*" + refusal):
        CheckpointManager(tmp_path).load_latest()
    assert not marker.exists()


def test_objects_that_cannot_be_read_back_are_refused_before_writing(tmp_path):
    @dataclasses.dataclass
    class Cfg:
        lr: float = 0.1

    with pytest.raises(CheckpointError, match=r"state\['cfg'\] is a Cfg.*asdict"):
        save_checkpoint(tmp_path / "last.pt", {"step": 1, "cfg": Cfg()})
    with pytest.raises(CheckpointError, match="is a dict"):
        save_checkpoint(tmp_path / "last.pt", [1, 2])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def _draws():
    return (random.random(), random.gauss(0, 1), np.random.rand(), np.random.standard_normal(),
            torch.rand(2).tolist())


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    random.gauss(0, 1)  # leaves a cached Gaussian in both generators' state
    np.random.standard_normal()
    save_checkpoint(tmp_path / "last.pt", {"rng": capture_rng_state()})
    expected = _draws()
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    restore_rng_state(load_checkpoint(tmp_path / "last.pt")["rng"])
    assert _draws() == expected


def test_malformed_rng_state_is_a_checkpoint_error():
    state = capture_rng_state()
    del state["numpy"]
    with pytest.raises(CheckpointError, match="random state"):
        restore_rng_state(state)


@pytest.mark.parametrize("content", [os.urandom(4096), b"\x80\x02" + os.urandom(300), b""])
def test_random_bytes_are_not_called_pickled_objects(tmp_path, content):
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "pickled" not in message and "weights_only" not in message and "\n" not in message
    assert "checkpoint" in message and "load only checkpoints written by resnets" in message
