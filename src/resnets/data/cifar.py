"""CIFAR-10 and CIFAR-100 from the official "python version" archives.

The batches are Python pickles, and unpickling can run arbitrary code, so they are read with
:class:`RestrictedUnpickler`, which resolves only the few numpy names a pickled ``ndarray``
needs. Downloads (opt-in) are checked against the published md5 and extracted only after
every archive member has been checked to stay inside the target folder.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError, did_you_mean
from .base import ArrayDataset

# ``np.ndarray.__reduce__`` names the array reconstructor; asking numpy for it avoids
# importing the deprecated ``numpy.core`` alias on numpy 2.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]

# The only globals the official batches reference (numpy 1 pickles say ``numpy.core``,
# numpy 2 pickles say ``numpy._core``). Lists, dicts, ints and bytes need no globals.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


@dataclass(frozen=True)
class CifarSpec:
    """Where one CIFAR variant lives and how its files are laid out."""

    title: str  # human name, e.g. "CIFAR-10"
    folder: str  # folder the archive extracts to
    url: str  # official archive
    md5: str  # published checksum of the archive
    train_pattern: str  # regex matching the training batch file names
    test_file: str  # the test batch
    meta_file: str  # file holding the class names
    names_key: bytes  # key of the class names in the meta file
    labels_key: bytes  # key of the labels in each batch


CIFAR_SPECS: dict[str, CifarSpec] = {
    "cifar10": CifarSpec("CIFAR-10", "cifar-10-batches-py",
                         "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                         "c58f30108f718f92721af3b95e74349a", r"data_batch_(\d+)", "test_batch",
                         "batches.meta", b"label_names", b"labels"),
    "cifar100": CifarSpec("CIFAR-100", "cifar-100-python",
                          "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                          "eb9058c3a382ffc7106e4002c42a8d85", r"(train)", "test", "meta",
                          b"fine_label_names", b"fine_labels"),
}

_PIXELS = 3 * 32 * 32  # one CIFAR image, stored channel-major (all red, all green, all blue)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in ``_ALLOWED_GLOBALS``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def read_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a CIFAR file with :class:`RestrictedUnpickler` (bytes keys, as written)."""
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(handle, encoding="bytes").load()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    except Exception as err:  # any malformed stream: UnpicklingError, EOFError, ValueError...
        raise DataError(f"refusing to load {path}: not a valid CIFAR pickle "
                        f"({type(err).__name__}: {err})") from None


def load_cifar(root: str | os.PathLike, dataset: str = "cifar10", split: str = "train",
               download: bool = False) -> ArrayDataset:
    """Read CIFAR-10/100 ``split`` ("train" or "test") as N x 3 x 32 x 32 uint8 images.

    ``root`` is the folder holding ``cifar-10-batches-py`` (or ``cifar-100-python``), or that
    folder itself. Every training batch present is read, in numeric order. With
    ``download=True`` a missing dataset is fetched from the official URL into ``root``.
    """
    spec = _spec(dataset)
    if split not in ("train", "test"):
        hint = did_you_mean(split, ["train", "test"])
        raise DataError(f"unknown {spec.title} split {split!r}{hint}; use 'train' or 'test'")
    folder = find_cifar_folder(root, spec)
    if folder is None:
        if not download:
            raise DataError(_missing_message(root, spec))
        download_cifar(root, spec)
        folder = find_cifar_folder(root, spec)
        if folder is None:
            raise DataError(f"the {spec.title} archive extracted into {root} but "
                            f"{spec.folder}/{spec.meta_file} is still missing; "
                            f"{_expected(Path(root) / spec.folder, spec)}")
    classes = [name.decode("utf-8") for name in _read_meta(folder / spec.meta_file, spec)]
    if split == "train":
        files = _train_files(folder, spec)
    else:
        files = [folder / spec.test_file]
    parts = [_read_batch(path, spec, len(classes)) for path in files]
    images = torch.cat([p[0] for p in parts]).view(-1, 3, 32, 32)
    labels = torch.cat([p[1] for p in parts])
    return ArrayDataset(images, labels, classes)


def find_cifar_folder(root: str | os.PathLike, spec: CifarSpec) -> Path | None:
    """The folder holding the batches: ``root/<spec.folder>`` or ``root`` itself."""
    root = Path(root).expanduser()
    for candidate in (root / spec.folder, root):
        if (candidate / spec.meta_file).is_file():
            return candidate
    return None


def md5sum(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex md5 digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def check_md5(path: str | os.PathLike, expected: str) -> bool:
    """Whether the file exists and its md5 equals ``expected``."""
    return Path(path).is_file() and md5sum(path) == expected.lower()


def fetch(url: str, destination: Path, timeout_s: float = 60.0) -> None:
    """Download ``url`` to ``destination`` (tests replace this function; it is the only I/O)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response, \
            open(destination, "wb") as out:
        shutil.copyfileobj(response, out)


def download_cifar(root: str | os.PathLike, spec: CifarSpec) -> None:
    """Fetch the official archive into ``root``, verify its md5 and extract it safely."""
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / spec.url.rsplit("/", 1)[1]
    if not check_md5(archive, spec.md5):
        handle, name = tempfile.mkstemp(dir=root, suffix=".part")
        os.close(handle)  # fetch() reopens it by name
        partial = Path(name)
        try:
            fetch(spec.url, partial)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            partial.unlink(missing_ok=True)
            reason = getattr(err, "reason", None) or err
            raise DataError(f"could not download {spec.url} ({reason}); fetch it by hand and "
                            f"extract it into {root} "
                            f"({_expected(root / spec.folder, spec)})") from None
        if not check_md5(partial, spec.md5):
            partial.unlink(missing_ok=True)
            raise DataError(f"{spec.url} downloaded but its md5 is not {spec.md5} (corrupt or "
                            "changed upstream); retry, or fetch and extract it by hand into "
                            f"{root}")
        partial.replace(archive)
    safe_extract(archive, root)


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> None:
    """Extract a tar archive, refusing links, devices and paths that leave ``target``."""
    target = Path(target).resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                destination = (target / member.name).resolve()
                inside = destination == target or target in destination.parents
                if not (member.isfile() or member.isdir()) or not inside \
                        or os.path.isabs(member.name):
                    raise DataError(f"refusing to extract {archive}: unsafe member "
                                    f"{member.name!r} (link, device or path outside {target})")
            if hasattr(tarfile, "data_filter"):  # Python's own checks, where available
                tar.extractall(target, members=members, filter="data")
            else:
                tar.extractall(target, members=members)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"cannot extract {archive}: {err}; delete it and retry") from None


def _spec(dataset: str) -> CifarSpec:
    if dataset not in CIFAR_SPECS:
        raise DataError(f"unknown CIFAR dataset {dataset!r}{did_you_mean(dataset, CIFAR_SPECS)}"
                        f"; choose one of {', '.join(CIFAR_SPECS)}")
    return CIFAR_SPECS[dataset]


def _expected(folder: str | os.PathLike, spec: CifarSpec) -> str:
    """The files a complete batches folder holds, e.g. ``expected x/{train, test, meta}``."""
    if spec.folder == "cifar-10-batches-py":
        files = "data_batch_1..5, test_batch, batches.meta"
    else:
        files = "train, test, meta"
    return f"expected {folder}/{{{files}}}"


def _missing_message(root: str | os.PathLike, spec: CifarSpec) -> str:
    return (f"{spec.title} not found under {root}; {_expected(Path(root) / spec.folder, spec)}: "
            f"download {spec.url} and extract it into {root}, or pass download=True")


def _train_files(folder: Path, spec: CifarSpec) -> list[Path]:
    pattern = re.compile(spec.train_pattern)
    found = []
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            key = int(match.group(1)) if match.group(1).isdigit() else 0
            found.append((key, path))
    if not found:
        raise DataError(f"no {spec.title} training batches in {folder}; "
                        f"{_expected(folder, spec)}: re-extract {spec.url}")
    return [path for _, path in sorted(found)]


def _read_meta(path: Path, spec: CifarSpec) -> list[bytes]:
    meta = read_pickle(path)
    names = meta.get(spec.names_key) if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names) \
            or not names:
        raise DataError(f"{path} has no {spec.names_key!r} list of class names; "
                        f"is it a {spec.title} meta file?")
    return names


def _read_batch(path: Path, spec: CifarSpec, num_classes: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N x 3072 uint8 pixels, N int64 labels) from one batch file, validated."""
    if not path.is_file():
        raise DataError(f"missing {spec.title} file {path}; {_expected(path.parent, spec)}: "
                        f"re-extract {spec.url}")
    batch = read_pickle(path)
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(spec.labels_key) if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != _PIXELS:
        raise DataError(f"{path}: b'data' must be an N x {_PIXELS} uint8 array; "
                        "the file is not an official CIFAR batch")
    if not isinstance(labels, list) or len(labels) != len(data):
        raise DataError(f"{path}: {spec.labels_key!r} must list one label per image "
                        f"({len(data)})")
    # torch.tensor(..., dtype=int64) would turn 2.7 into 2 and True into 1 without a word.
    wrong = next((v for v in labels if isinstance(v, (bool, np.bool_))
                  or not isinstance(v, (int, np.integer))), None)
    if wrong is not None:
        raise DataError(f"{path}: {spec.labels_key!r} must hold integer labels, not "
                        f"{type(wrong).__name__} values such as {wrong!r:.20}; the file is "
                        "not an official CIFAR batch")
    try:
        label_tensor = torch.tensor(labels, dtype=torch.int64)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        raise DataError(f"{path}: {spec.labels_key!r} must hold integer labels") from None
    if len(label_tensor) and (int(label_tensor.min()) < 0
                              or int(label_tensor.max()) >= num_classes):
        raise DataError(f"{path}: labels outside 0..{num_classes - 1}")
    return torch.from_numpy(np.ascontiguousarray(data)), label_tensor
