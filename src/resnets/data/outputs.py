"""Where ``detect predict`` and ``segment predict`` write: never over an input, never twice.

An output is named after its input's stem (``photo.png`` -> ``photo.png`` for detection,
``photo_overlay.png`` and ``photo_mask.png`` for segmentation). Two inputs with one stem
(``a/photo.png`` and ``b/photo.jpg``) would write the same file, and ``--out`` may be the
folder of an input, so each input gets the first of ``photo``, ``photo-2``, ``photo-3``, ...
whose outputs are neither taken by an earlier input nor the same file as any input (compared
by device and inode, so a hard link or a symbolic link to an input counts as that input).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .imagecheck import check_images, refuse_bad_images
from ..errors import DataError
from ..files import check_writable


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def plan_outputs(images: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 suffixes: Sequence[str], shared: Sequence[str] = ()
                 ) -> tuple[Path, list[list[Path]]]:
    """Check the inputs and the output folder; returns it and each input's output paths.

    ``suffixes`` end the outputs of every input; ``shared`` names the files written once for
    all of them (``detections.json``). All checks run before a model is loaded: a missing or
    unreadable input, an output folder that cannot be written, or a shared file that is an
    input is one line.
    """
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise DataError(f"image {str(missing[0])!r} does not exist; pass existing image files")
    refuse_bad_images(images, check_images(images), "the inputs", None)
    out = check_writable(out_dir)
    inputs = {_identity(Path(p)) for p in images} - {None}
    for name in shared:
        if _identity(out / name) in inputs:
            raise DataError(f"input {str(out / name)!r} would be overwritten by this "
                            f"command's {name}; choose another --out folder")
    taken = {name.casefold() for name in shared}  # casefold: case-insensitive file systems
    plans = []
    for image in images:
        stem, copy = Path(image).stem, 1
        while True:
            base = stem if copy == 1 else f"{stem}-{copy}"
            names = [base + suffix for suffix in suffixes]
            if not any(n.casefold() in taken or (out / n).is_dir() or _identity(out / n) in inputs
                       for n in names):
                break
            copy += 1
        taken.update(n.casefold() for n in names)
        plans.append([out / n for n in names])
    return out, plans
