"""Training checkpoints that survive crashes, full disks and bit rot, and never run code.

Layout of a run directory (``NAME`` is ``last`` or ``best``)::

    NAME.pt             the newest checkpoint (torch.save zip format)
    NAME.pt.sha256      its SHA-256, in ``sha256sum`` format ("<hex>  NAME.pt")
    NAME.prev.pt        the checkpoint it replaced, kept for fallback
    NAME.prev.pt.sha256 that one's SHA-256

Writing (:func:`save_checkpoint`): the state goes to a temporary file in the same directory,
which is flushed and fsynced; if the current ``NAME.pt`` verifies against its checksum it is
hard-linked (or copied) to ``NAME.prev.pt`` and its checksum file follows; then the temporary
file is renamed over ``NAME.pt`` (atomic) and the new checksum file is written (atomically).
Once one save has completed, a crash at any later point leaves at least one checkpoint whose
checksum matches: between the rename and the new checksum, ``NAME.pt`` fails verification and
``NAME.prev.pt`` is used. A failed write (disk full) removes its temporary files and leaves the
old files untouched; only a killed process can leave a ``.NAME.pt.*.tmp`` file, never read.

Reading (:func:`load_checkpoint`) uses ``torch.load(weights_only=True)``: tensors and plain
data only, so a file holding pickled code is refused without running it. To make sure what is
saved can be read back that way, :func:`save_checkpoint` converts numpy arrays and scalars to
tensors and numbers, paths to strings, and refuses any other object before writing anything.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, first_line
from ..files import WriteError, atomic_path, write_error, write_text_atomic
from ..weights import load_torch_file

CHECKSUM_SUFFIX = ".sha256"
_LEAF_TYPES = (bool, int, float, complex, str, bytes, torch.device, torch.dtype, torch.Size)
_CONTAINERS = (dict, OrderedDict, list, tuple, set)


class CheckpointWarning(UserWarning):
    """A checkpoint was unusable and an older one was loaded instead."""


def checksum_path(path: str | os.PathLike) -> Path:
    """Where the SHA-256 of checkpoint ``path`` is kept: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def previous_path(path: str | os.PathLike) -> Path:
    """Where the checkpoint that ``path`` replaced is kept: ``last.pt`` -> ``last.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: str | os.PathLike) -> str | None:
    """None when ``path`` matches its checksum file, else the reason it does not."""
    path, sidecar = Path(path), checksum_path(path)
    if not path.is_file():
        return f"{str(path)!r} does not exist"
    if not sidecar.is_file():
        return f"{str(path)!r} has no checksum file {sidecar.name!r}"
    recorded = sidecar.read_text(encoding="ascii", errors="replace").split()
    if not recorded or not re.fullmatch(r"[0-9a-f]{64}", recorded[0]):
        return f"checksum file {str(sidecar)!r} is malformed"
    if sha256_file(path) != recorded[0]:
        return f"{str(path)!r} is truncated or corrupt (its SHA-256 differs from {sidecar.name})"
    return None


def to_plain(obj: Any, where: str = "state") -> Any:
    """``obj`` with numpy values turned into tensors and numbers, ready for weights_only loading.

    Raises CheckpointError naming the first value (e.g. ``state['cfg']``) that could not be
    read back, such as a dataclass or an arbitrary object.
    """
    if obj is None or type(obj) in _LEAF_TYPES or isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return torch.from_numpy(np.array(obj, copy=True))
    if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
        return obj.item()
    if isinstance(obj, PurePath):
        return str(obj)
    if type(obj) in (dict, OrderedDict):
        out = type(obj)((to_plain(k, f"{where} key"), to_plain(v, f"{where}[{k!r}]"))
                        for k, v in obj.items())
        if hasattr(obj, "_metadata"):  # module state dicts carry their version numbers here
            out._metadata = obj._metadata
        return out
    if type(obj) in _CONTAINERS:
        return type(obj)(to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise CheckpointError(f"checkpoint {where} is a {type(obj).__name__}, which cannot be "
                          "loaded back safely; store tensors, numbers, strings, lists or dicts "
                          "(for a dataclass, dataclasses.asdict)")


def _temp_name(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _keep_as_previous(path: Path) -> None:
    """Hard-link (or copy) ``path`` and its checksum file to their ``.prev`` names."""
    prev = previous_path(path)
    tmp = _temp_name(prev)
    try:
        tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:  # file systems without hard links
            shutil.copyfile(path, tmp)
        os.replace(tmp, prev)
    finally:
        tmp.unlink(missing_ok=True)
    recorded = checksum_path(path).read_text(encoding="ascii").split()[0]
    write_text_atomic(checksum_path(prev), f"{recorded}  {prev.name}\n")


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any],
                    keep_previous: bool = True) -> Path:
    """Write ``state`` to ``path`` atomically with a SHA-256 checksum file beside it.

    With ``keep_previous`` a verified existing ``path`` is kept as :func:`previous_path`.
    A failed write raises CheckpointError and leaves existing files as they were.
    """
    path = Path(path)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"a checkpoint is a dict, got {type(state).__name__}")
    plain = to_plain(dict(state))
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # fsynced, renamed over ``path``
            torch.save(plain, f)
            f.flush()
            digest = sha256_file(tmp)
            if keep_previous and verify_checksum(path) is None:
                _keep_as_previous(path)
        write_text_atomic(checksum_path(path), f"{digest}  {path.name}\n")  # fsyncs the folder
    except (OSError, RuntimeError, WriteError) as exc:  # torch.save: RuntimeError
        raise _write_failure(path, exc) from exc
    return path


def _write_failure(path: Path, exc: BaseException) -> CheckpointError:
    """One line, errno in words ("no space left on device"), not torch's C++ message."""
    problem = exc if isinstance(exc, WriteError) else write_error(path, exc)
    return CheckpointError(str(problem).replace("cannot write ", "cannot write checkpoint ", 1))


def load_checkpoint(path: str | os.PathLike, require_checksum: bool = False) -> dict[str, Any]:
    """Read a checkpoint on the CPU with ``torch.load(weights_only=True)``.

    The file is verified against its checksum file when there is one (always, with
    ``require_checksum``). Pickled code is refused with CheckpointError, never run.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if require_checksum or checksum_path(path).exists():
        problem = verify_checksum(path)
        if problem:
            raise CheckpointError(f"cannot use checkpoint: {problem}")
    state = load_torch_file(path, "checkpoint", "load only checkpoints written by resnets")
    if not isinstance(state, dict):
        raise CheckpointError(f"{str(path)!r} holds a {type(state).__name__}, not a checkpoint "
                              "dict")
    return state


def capture_rng_state() -> dict[str, Any]:
    """The global random states of Python, numpy and torch (CPU and initialised CUDA devices).

    Stored as tensors and numbers so that it survives weights_only loading.
    """
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "numpy": to_plain(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # The generator of this process's device (the engine makes the training device the
        # current one). Under DDP every process drives one GPU and, seeded alike, draws in step
        # with the others, so rank 0's state is every rank's.
        state["cuda"] = torch.cuda.get_rng_state().clone()
    return state


def _to_numpy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    return obj


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Put back the random states captured by :func:`capture_rng_state`.

    The CUDA state goes to this process's current device (older checkpoints hold one state
    per device: those are restored for the devices present in both).
    """
    try:
        py = state["python"]
        random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()),
                         py["gauss_next"]))
        np.random.set_state(_to_numpy(state["numpy"]))
        torch.set_rng_state(state["torch"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint's random state is malformed "
                              f"({first_line(exc)}); resume without it") from exc
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if isinstance(cuda_states, torch.Tensor):
            torch.cuda.set_rng_state(cuda_states)
            return
        for index in range(min(len(cuda_states), torch.cuda.device_count())):
            torch.cuda.set_rng_state(cuda_states[index], index)


class CheckpointManager:
    """``last`` and ``best`` checkpoints of one run directory, with fallback on corruption."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.last_path = self.run_dir / "last.pt"
        self.best_path = self.run_dir / "best.pt"

    def save_last(self, state: Mapping[str, Any]) -> Path:
        return save_checkpoint(self.last_path, state)

    def save_best(self, state: Mapping[str, Any]) -> Path:
        return save_checkpoint(self.best_path, state)

    def load_latest(self) -> dict[str, Any] | None:
        """The newest verified ``last`` checkpoint, or None when the run has none."""
        return self._load_with_fallback(self.last_path)

    def load_best(self) -> dict[str, Any] | None:
        """The newest verified ``best`` checkpoint, or None when the run has none."""
        return self._load_with_fallback(self.best_path)

    def _load_with_fallback(self, path: Path) -> dict[str, Any] | None:
        candidates = [p for p in (path, previous_path(path)) if p.exists()]
        if not candidates:
            return None
        problems = []
        for candidate in candidates:
            try:
                state = load_checkpoint(candidate, require_checksum=True)
            except CheckpointError as exc:
                problems.append(str(exc))
                continue
            if problems:
                warnings.warn(f"{problems[0]}; using the previous checkpoint "
                              f"{str(candidate)!r} instead", CheckpointWarning, stacklevel=3)
            return state
        raise CheckpointError(f"no usable checkpoint in {str(self.run_dir)!r}: "
                              + "; ".join(problems))

    def has_checkpoint(self) -> bool:
        """Whether a ``last`` checkpoint (or its previous one) was written."""
        return any(p.exists() for p in (self.last_path, previous_path(self.last_path)))

    def kept_note(self) -> str:
        """What a run stopped now leaves behind, for its message: a kept checkpoint only when
        one was written."""
        if self.has_checkpoint():
            return f"the last good checkpoint in {self.run_dir} is kept"
        return f"no checkpoint was written yet in {self.run_dir}"
