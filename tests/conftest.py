"""Suite-wide settings.

The tests run many tiny models and several multi-process tests at once on small machines.
One intra-op thread per process keeps them from oversubscribing the cores (an OpenMP pool
that spins while another process holds a core slows PyTorch down by an order of magnitude);
subprocesses inherit the setting through the environment.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


import contextlib  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402


@contextlib.contextmanager
def tmpfs(tmp_path, size):
    """A real folder on a tmpfs of ``size`` (mount's syntax: 256k, 64m); skips without root."""
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder):
    """Write ``folder/.filler`` until its file system has no space left; returns that file."""
    filler = folder / ".filler"
    with contextlib.suppress(OSError), open(filler, "ab") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()
    return filler


@pytest.fixture
def full_disk(tmp_path):
    """A real folder on a file system with no space left: a 256 KiB tmpfs, filled up.

    Mounting needs root (CI and the developers' machines run as root); elsewhere the tests
    that use it are skipped with that reason.
    """
    with tmpfs(tmp_path, "256k") as mount:
        fill(mount)
        yield mount


@pytest.fixture
def small_disk(tmp_path):
    """A real, empty 64 MiB tmpfs: a test fills it (``fill_disk``) when it needs it full."""
    with tmpfs(tmp_path, "64m") as mount:
        yield mount


@pytest.fixture
def fill_disk():
    """``fill_disk(folder)`` fills the file system of ``folder`` (see :func:`fill`)."""
    return fill


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none (a "bomb" header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def bad_images():
    """Bytes of unreadable image files, by kind: what the pre-training image check refuses.

    "bomb" declares 12000 x 12000 pixels (over PIL's limit, within twice it: PIL only warns);
    "huge" declares 30000 x 30000 (PIL itself raises).
    """
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buffer, format="PNG")
    png = buffer.getvalue()
    return {"empty": b"", "junk": b"this is no image", "truncated": png[: len(png) // 2],
            "bomb": _png_header_only(12000, 12000), "huge": _png_header_only(30000, 30000)}
