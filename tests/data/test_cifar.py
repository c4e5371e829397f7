"""CIFAR reader: fake batches written in the official pickle format, read back exactly."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from resnets.data import cifar
from resnets.data.cifar import check_md5, load_cifar, md5sum, read_pickle, safe_extract
from resnets.errors import DataError

CIFAR10_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                 b"horse", b"ship", b"truck"]


_RECONSTRUCT = np.zeros(0).__reduce__()[0]


class Python2Pickler(pickle._Pickler):
    """Writes what the official batches hold: the Python 2 cPickle stream, protocol 2.

    Python 2 ``str`` is a byte string stored as (SHORT_)BINSTRING, and numpy 1 named its
    reconstructor ``numpy.core.multiarray._reconstruct``; Python 3 alone would write
    ``_codecs.encode`` calls and ``numpy._core`` instead.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_binstring(self, obj):
        raw = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_binstring
    dispatch[str] = save_binstring

    def save_global(self, obj, name=None):
        if obj is _RECONSTRUCT:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as handle:
        Python2Pickler(handle, protocol=2).dump(obj)


def _pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3072), dtype=np.uint8)


def write_cifar10(folder: Path, batch_sizes=(3, 2, 4), test_size=5) -> dict[str, np.ndarray]:
    """Write a tiny CIFAR-10 batches folder; returns the pixels and labels it wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    _dump(folder / "batches.meta", {b"num_cases_per_batch": 10000,
                                    b"label_names": CIFAR10_NAMES, b"num_vis": 3072})
    written = {"train_x": [], "train_y": []}
    for number, size in enumerate(batch_sizes, start=1):
        data, labels = _pixels(size, number), [(number + i) % 10 for i in range(size)]
        _dump(folder / f"data_batch_{number}", {b"batch_label": b"training batch",
                                                b"labels": labels, b"data": data,
                                                b"filenames": [b"x.png"] * size})
        written["train_x"].append(data)
        written["train_y"] += labels
    test_x, test_y = _pixels(test_size, 99), [i % 10 for i in range(test_size)]
    _dump(folder / "test_batch", {b"batch_label": b"testing batch 1 of 1", b"labels": test_y,
                                  b"data": test_x, b"filenames": [b"y.png"] * test_size})
    written["train_x"] = np.concatenate(written["train_x"])
    written.update(test_x=test_x, test_y=np.array(test_y))
    written["train_y"] = np.array(written["train_y"])
    return written


def test_reads_all_batches_in_numeric_order_with_channel_major_layout(tmp_path):
    # Eleven batches: "data_batch_10" must come after "data_batch_9", not after "_1".
    written = write_cifar10(tmp_path / "cifar-10-batches-py", batch_sizes=tuple(range(1, 12)))
    ds = load_cifar(tmp_path, "cifar10", "train")
    assert ds.images.shape == (66, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.tolist() == written["train_y"].tolist()
    assert ds.classes == [n.decode() for n in CIFAR10_NAMES]
    flat = written["train_x"]
    # Row layout: 1024 red values, then 1024 green, then 1024 blue, each row-major 32 x 32.
    for n, c, y, x in [(0, 0, 0, 0), (5, 1, 3, 7), (65, 2, 31, 31), (40, 2, 0, 31)]:
        assert int(ds.images[n, c, y, x]) == int(flat[n, c * 1024 + y * 32 + x])


def test_test_split_and_root_pointing_at_the_batches_folder(tmp_path):
    written = write_cifar10(tmp_path / "cifar-10-batches-py")
    ds = load_cifar(tmp_path / "cifar-10-batches-py", split="test")
    assert len(ds) == 5 and ds.num_classes == 10
    expected = torch.from_numpy(written["test_x"]).view(5, 3, 32, 32)
    assert torch.equal(ds.images, expected)
    assert ds.labels.tolist() == written["test_y"].tolist()


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine_names = [f"class{i}".encode() for i in range(100)]
    _dump(folder / "meta", {b"fine_label_names": fine_names,
                            b"coarse_label_names": [b"c"] * 20})
    data = _pixels(4, 3)
    for name in ("train", "test"):
        _dump(folder / name, {b"data": data, b"fine_labels": [99, 0, 42, 7],
                              b"coarse_labels": [1, 2, 3, 4], b"filenames": [b"f"] * 4})
    ds = load_cifar(tmp_path, "cifar100", "train")
    assert ds.labels.tolist() == [99, 0, 42, 7]
    assert ds.num_classes == 100 and ds.classes[42] == "class42"
    assert torch.equal(ds.images.reshape(4, -1), torch.from_numpy(data))


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload", ["shell", "eval"])
def test_malicious_pickle_is_refused_without_running_code(tmp_path, payload):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    marker = tmp_path / "pwned"
    evil = _RunsShell(marker) if payload == "shell" else _Evaluates()
    _dump(folder / "data_batch_2", {b"data": evil, b"labels": [0]})
    with pytest.raises(DataError, match="data_batch_2.*forbidden global"):
        load_cifar(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [3, 4])
def test_restricted_unpickler_reads_batches_repickled_by_python3(tmp_path, protocol):
    # numpy 2 names "numpy._core.multiarray._reconstruct"; protocol 4 uses STACK_GLOBAL.
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "modern"
    path.write_bytes(pickle.dumps({b"data": array, b"labels": [1, 2, 3]}, protocol=protocol))
    loaded = read_pickle(path)
    assert np.array_equal(loaded[b"data"], array) and loaded[b"labels"] == [1, 2, 3]


def test_bad_batch_contents_are_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    _dump(folder / "data_batch_3", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match=r"data_batch_3: b'data' must be an N x 3072 uint8"):
        load_cifar(tmp_path)
    _dump(folder / "data_batch_3", {b"data": _pixels(2, 0), b"labels": [0, 10]})
    with pytest.raises(DataError, match=r"data_batch_3: labels outside 0\.\.9"):
        load_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar(tmp_path)


def test_missing_data_says_the_layout_and_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as info:
        load_cifar(tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message
    assert "cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}" in message
    assert cifar.CIFAR_SPECS["cifar10"].url in message and "download=True" in message


def test_missing_test_batch_and_bad_arguments(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="missing CIFAR-10 file .*test_batch"):
        load_cifar(tmp_path, split="test")
    with pytest.raises(DataError, match="did you mean 'test'"):
        load_cifar(tmp_path, split="tests")
    with pytest.raises(DataError, match="did you mean 'cifar10'"):
        load_cifar(tmp_path, dataset="cifar-10")


def test_md5_of_a_written_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    assert md5sum(path) == "900150983cd24fb0d6963f7d28e17f72"  # RFC 1321 test vector
    assert md5sum(path, chunk_bytes=1) == md5sum(path)
    assert check_md5(path, "900150983CD24FB0D6963F7D28E17F72")
    assert not check_md5(path, "0" * 32)
    assert not check_md5(tmp_path / "absent", "900150983cd24fb0d6963f7d28e17f72")


def _archive_of(folder: Path, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return buffer.getvalue()


def test_download_fetches_verifies_and_extracts(tmp_path, monkeypatch):
    written = write_cifar10(tmp_path / "staging" / "cifar-10-batches-py")
    archive = _archive_of(tmp_path / "staging" / "cifar-10-batches-py", "cifar-10-batches-py")
    spec = cifar.CIFAR_SPECS["cifar10"]
    fake_md5 = __import__("hashlib").md5(archive).hexdigest()
    monkeypatch.setitem(cifar.CIFAR_SPECS, "cifar10",
                        cifar.CifarSpec(**{**spec.__dict__, "md5": fake_md5}))
    calls = []

    def fake_fetch(url, destination):
        calls.append(url)
        Path(destination).write_bytes(archive)

    monkeypatch.setattr(cifar, "fetch", fake_fetch)
    root = tmp_path / "root"
    ds = load_cifar(root, download=True)
    assert calls == [spec.url]
    assert ds.labels.tolist() == written["train_y"].tolist()
    assert (root / "cifar-10-python.tar.gz").is_file()
    assert not list(root.glob("*.part"))


def test_download_with_a_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "fetch", lambda url, dest: Path(dest).write_bytes(b"junk"))
    with pytest.raises(DataError, match="md5 is not c58f30108f718f92721af3b95e74349a"):
        load_cifar(tmp_path, download=True)
    assert not list(tmp_path.iterdir())  # the bad download was removed


def test_offline_download_failure_is_one_line(tmp_path, monkeypatch):
    def offline(url, dest):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(cifar, "fetch", offline)
    with pytest.raises(DataError) as info:
        load_cifar(tmp_path, "cifar100", download=True)
    message = str(info.value)
    assert "\n" not in message and "could not download" in message
    assert "Name or service not known" in message and "cifar-100-python/{train, test, meta}" \
        in message


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_safe_extract_refuses_escaping_members(tmp_path, kind):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo({"parent": "../escaped", "absolute": str(tmp_path / "abs"),
                                "symlink": "link"}[kind])
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(DataError, match="refusing to extract .*unsafe member"):
        safe_extract(archive, target)
    assert list(target.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "abs").exists()


def test_build_dataset_reads_cifar(tmp_path):
    from resnets.data import build_dataset

    written = write_cifar10(tmp_path / "cifar-10-batches-py")
    ds = build_dataset("cifar10", str(tmp_path), "test")
    assert ds.labels.tolist() == written["test_y"].tolist()


@pytest.mark.parametrize("labels, kind", [([0, 2.7], "float values such as 2.7"),
                                          ([True, 1], "bool values such as True"),
                                          ([0, 3.0], "float values such as 3.0")])
def test_float_or_boolean_labels_are_refused(tmp_path, labels, kind):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    _dump(folder / "data_batch_3", {b"data": _pixels(2, 0), b"labels": labels})
    with pytest.raises(DataError, match=f"data_batch_3: b'labels' must hold integer labels, "
                                        f"not {kind}"):
        load_cifar(tmp_path)
