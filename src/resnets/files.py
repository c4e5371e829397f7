"""Writing files so that nothing is lost: atomic replacement and one-line write errors.

Every file the project writes for a user (run configs, metrics, summaries, reports, figures,
predictions, generated data sets) goes through these helpers, so that

* a reader never sees a half-written file: the bytes go to a temporary file beside the
  target, are flushed and fsynced, and the temporary file is renamed over the target;
* a failed write leaves the old file as it was and no temporary file behind;
* a full disk, a read-only folder or a missing permission becomes one line
  (:class:`~resnets.errors.ResnetsError`) that names the path and the fix, not a traceback
  (torch reports a failed write as ``RuntimeError: ... inline_container.cc``; that is
  translated too).

This module sits at the bottom of the package, beside :mod:`resnets.errors`: models, data,
the engine and every task may import it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ResnetsError, first_line


class WriteError(ResnetsError):
    """A file or folder could not be written (full disk, read-only, permission)."""


# errno -> what the user should do about it.
_ADVICE = {
    errno.ENOSPC: ("no space left on device", "free some space or choose another folder"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose another folder"),
    errno.EROFS: ("the file system is read-only", "choose a writable folder"),
    errno.EACCES: ("permission denied", "choose a folder you can write to"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another path"),
    errno.EISDIR: ("the path is a folder", "give a file name"),
    errno.ENAMETOOLONG: ("the file name is too long", "choose a shorter name"),
}


def write_error(path: str | os.PathLike, exc: BaseException) -> WriteError:
    """The one-line error for a failed write of ``path``."""
    code = getattr(exc, "errno", None)
    if code is None and _is_torch_write_failure(exc):
        # torch.save's C++ writer loses errno; a full disk is by far the usual cause.
        code = errno.ENOSPC if _nearly_full(path) else None
    if code in _ADVICE:
        what, fix = _ADVICE[code]
        return WriteError(f"cannot write {str(path)!r}: {what}; {fix}")
    return WriteError(f"cannot write {str(path)!r}: {first_line(exc)}; check the free space "
                      "and permissions of its folder")


def _is_torch_write_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        words in text for words in ("no space", "file write failed", "inline_container",
                                    "unexpected pos", "pytorchstreamwriter"))


def _nearly_full(path: str | os.PathLike, margin: int = 64 << 20) -> bool:
    """Whether the file system holding ``path`` has less than ``margin`` bytes free."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


@contextlib.contextmanager
def guard_write(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError (or torch's write RuntimeError) in the block into a WriteError."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from exc
    except RuntimeError as exc:
        if not _is_torch_write_failure(exc):
            raise
        raise write_error(path, exc) from exc


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``.

    For writers that take a file name (``savefig``, ``PIL.Image.save``, ``torch.save``):
    write to the yielded path inside the block. On any error the target is left as it was
    and the temporary file is removed; OSErrors become a :class:`WriteError`.
    """
    path = Path(path)
    with guard_write(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                    suffix=".tmp" + path.suffix)
        os.close(fd)
    tmp = Path(name)
    try:
        with guard_write(path):
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    return write_bytes_atomic(path, text.encode(encoding))


def check_writable(folder: str | os.PathLike, create: bool = True) -> Path:
    """Fail in one line, before any work, if files cannot be created in ``folder``.

    The folder is created when ``create`` (and missing); a probe file is written and removed.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WriteError(f"{str(folder)!r} is a file, not a folder; choose another output "
                         "folder")
    with guard_write(folder):
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise WriteError(f"output folder {str(folder)!r} does not exist; create it or "
                             "choose another")
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            Path(probe).unlink(missing_ok=True)
    return folder
