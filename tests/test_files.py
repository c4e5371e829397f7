"""Atomic writes and one-line write errors (resnets.files)."""

import errno
import os

import pytest

from resnets import files
from resnets.errors import ResnetsError


def test_atomic_text_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "config.json"
    files.write_text_atomic(target, "one\n")
    files.write_text_atomic(target, "two\n")
    assert target.read_text() == "two\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("good\n")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_full_disk_is_one_line(full_disk):
    target = full_disk / "config.json"
    with pytest.raises(files.WriteError) as info:
        files.write_text_atomic(target, "x" * 100_000)
    message = str(info.value)
    assert "no space left on device" in message and "\n" not in message
    assert not target.exists()
    assert sorted(p.name for p in full_disk.iterdir()) == [".filler"]
    with pytest.raises(files.WriteError, match="no space left"):
        files.check_writable(full_disk)


def test_torch_save_failure_on_full_disk_is_named(full_disk):
    import torch

    target = full_disk / "last.pt"
    with pytest.raises(files.WriteError, match="no space left on device"):
        with files.atomic_path(target) as tmp:
            torch.save({"w": torch.zeros(100_000)}, tmp)
    assert not target.exists()


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only"),
                                         (errno.EACCES, "permission denied"),
                                         (errno.ENOSPC, "no space left")])
def test_os_errors_name_the_cause(tmp_path, monkeypatch, code, words):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    with pytest.raises(files.WriteError) as info:
        files.check_writable(tmp_path)
    assert words in str(info.value) and str(tmp_path) in str(info.value)
    assert isinstance(info.value, ResnetsError)


def test_check_writable_refuses_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("")
    with pytest.raises(files.WriteError, match="is a file, not a folder"):
        files.check_writable(target)
    assert files.check_writable(tmp_path / "new" / "folder").is_dir()
