"""Run directories: one folder per run, never shared, never reused by accident.

Every training command (``train``, ``detect|segment train``, ``speech|text train``,
``continual``) makes its run directory with :func:`create_run_dir`:

* a name given by the user is one path component (no ``/``, not ``.`` or ``..``, not empty);
* a folder that already holds anything is refused in one line, so a finished run is never
  overwritten (continue it with ``--resume``); a generated name (recipe and time) takes the
  next free ``-2``, ``-3`` ... suffix instead;
* the folder is made with one ``mkdir`` and locked at once, so of two runs started together
  with one name exactly one gets it.

The lock (:func:`lock_run_dir`) is an exclusive ``flock`` on ``RUN_DIR/.lock``, held for the
life of the run, resumes included; the operating system drops it when the process ends, also
on a crash or ``kill -9``. The lock file records who holds it (pid, host, torchrun's run id)
so that processes restarted by torchrun recognise their own run directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ResnetsError
from ..files import check_writable, guard_write

LOCK_FILE = ".lock"
_HELD: dict[Path, "RunLock"] = {}  # locks this process took for runs about to start


def timestamped(name: str) -> str:
    """``name`` and the local date and time: the generated name of a run directory."""
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_run_name(name: str, option: str = "--name") -> str:
    """``name`` if it is one path component, else a one-line ResnetsError."""
    bad = (not name.strip() or name in (".", "..") or "/" in name or "\0" in name
           or (os.sep != "/" and os.sep in name))
    if bad:
        raise ResnetsError(f"{option} {name!r} is not a folder name: give one name without "
                           "'/' (not '.' or '..'); put the parent folder in the output folder "
                           "option")
    return name


class RunLock:
    """An exclusive lock on a run directory; :meth:`release` (or process exit) drops it."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir, self._fd = run_dir, fd

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            # Unlock before closing: loader workers forked while the lock was held share the
            # descriptor, and would hold the lock as long as they live (kept workers: until
            # the loader is collected).
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        _HELD.pop(self.run_dir, None)


def lock_run_dir(run_dir: str | os.PathLike) -> RunLock:
    """Take the run directory's lock, or fail in one line when another process holds it."""
    import fcntl

    run_dir = Path(run_dir)
    path = run_dir / LOCK_FILE
    with guard_write(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        owner = lock_owner(run_dir)
        who = f" (pid {owner['pid']} on {owner['host']})" if owner else ""
        raise ResnetsError(f"{str(run_dir)!r} is in use by another run{who}; wait for it to "
                           "finish or choose another run directory") from None
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "torchrun_run_id": os.environ.get("TORCHELASTIC_RUN_ID", ""),
              "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    with guard_write(path):  # the record helps a user (and torchrun restarts) see the owner
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    return RunLock(run_dir, fd)


def lock_owner(run_dir: str | os.PathLike) -> dict | None:
    """What the last process to lock ``run_dir`` recorded, or None."""
    try:
        record = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_free(folder: Path) -> bool:
    """Whether ``folder`` is a folder holding nothing but (maybe) a lock: no run wrote there."""
    return folder.is_dir() and all(entry.name == LOCK_FILE for entry in folder.iterdir())


def create_run_dir(out_dir: str | os.PathLike, name: str, default_name: str,
                   option: str = "--name", resumable: bool = True,
                   reenter: bool = False) -> Path:
    """Make, lock and return a new run directory ``out_dir/name`` (or ``out_dir/default_name``
    with a free suffix when ``name`` is empty).

    ``option`` is the command's option for ``name``; an existing folder that holds anything
    is refused, pointing to ``--resume`` when the command has it (``resumable``); ``reenter``
    accepts it (torchrun restarting the processes of this very run). The lock is held until
    the run claims it with :func:`hold_run_dir` (or the process ends).
    """
    out = check_writable(out_dir)
    if name:
        path = out / check_run_name(name, option)
        candidates = iter([path])
    else:
        candidates = (out / (default_name if n == 1 else f"{default_name}-{n}")
                      for n in range(1, 10_000))
    for path in candidates:
        with guard_write(path):
            try:
                path.mkdir()
                fresh = True
            except FileExistsError:
                fresh = False
        # A given name may be an empty folder made for the run; a generated one only a
        # folder this call made, so two runs started in one second take two suffixes.
        usable = fresh or reenter or (bool(name) and _is_free(path))
        if usable:
            lock = lock_run_dir(path)
            if fresh or reenter or _is_free(path):  # no other run filled it meanwhile
                _HELD[path] = lock
                return path
            lock.release()
        if not name:
            continue
        what = f"resume it with --resume {path}" if resumable else "delete it"
        raise ResnetsError(f"run directory {str(path)!r} already exists; {what} or choose "
                           f"another {option}")
    raise ResnetsError(f"no free run directory name for {default_name!r} in {str(out)!r}; "
                       "pass a name")


@contextlib.contextmanager
def hold_run_dir(run_dir: str | os.PathLike, discard_unused: bool = False) -> Iterator[Path]:
    """Hold the lock of ``run_dir`` for the block: the one :func:`create_run_dir` took, or a
    new one (a resumed run). Released at the end of the block, also on an error.

    With ``discard_unused``, a block that fails before anything was written to the folder
    (bad data found while the run was being set up) removes the folder again, so a failed
    start leaves no empty run directory behind.
    """
    run_dir = Path(run_dir)
    lock = _HELD.pop(run_dir, None) or lock_run_dir(run_dir)
    try:
        yield run_dir
    except BaseException:
        if discard_unused and _is_free(run_dir):
            with contextlib.suppress(OSError):  # still locked: nobody else is using it
                (run_dir / LOCK_FILE).unlink()
                run_dir.rmdir()
        raise
    finally:
        lock.release()
