"""A cheap check of image files before training: every file opens, decodes and is not a bomb.

Folder, COCO and segmentation readers call :func:`check_images` on the train *and* the
validation files when they are built, so a zero-byte, truncated or corrupt file, or a
decompression bomb (a small file that declares billions of pixels), stops the run in one
line before the first step, not after an epoch (or, with the reader's skip flag, is left out
and counted).

The check reads as little as proves the file whole: a JPEG is decoded as a 1/8-scale draft
(the entropy-coded data is still read to its end, so truncation shows); a PNG is verified
chunk by chunk (CRCs and the closing IEND, without inflating the pixels); other formats are
decoded in full. Files are checked by a few threads (PIL releases the GIL while decoding).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from PIL import Image

from ..errors import DataError

# PIL's own default bomb limit (about 9459 x 9459), fixed here so that a library that set
# Image.MAX_IMAGE_PIXELS = None elsewhere in the process cannot switch the check off.
MAX_PIXELS = 89_478_485
# PIL decodes outside the GIL, so threads scale with the cores (up to what the disk serves).
CHECK_THREADS = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class ImageStatus:
    """What :func:`check_image` found: the size of a good file, or why it is bad."""

    size: tuple[int, int] | None  # (width, height) from the header, when it could be read
    problem: str | None = None  # None for a usable image

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_image(path: str | os.PathLike | IO[bytes]) -> ImageStatus:
    """Open, size-check and verify one image file, or a file object of its bytes (see the
    module docstring)."""
    size = None
    try:
        empty = (path.getbuffer().nbytes == 0 if isinstance(path, io.BytesIO)
                 else os.path.getsize(path) == 0)
        if empty:
            return ImageStatus(None, "empty file (0 bytes)")
        with Image.open(path) as image:
            size = image.size
            refuse_bomb(image)
            if image.format == "JPEG":
                image.draft("RGB", (max(size[0] // 8, 1), max(size[1] // 8, 1)))
                image.load()
            elif image.format == "PNG":
                image.verify()
            else:
                image.load()
    except (OSError, ValueError, SyntaxError, EOFError, IndexError,
            Image.DecompressionBombError) as err:
        # PIL reports damaged files with any of these (SyntaxError: a broken PNG chunk).
        return ImageStatus(size, " ".join(str(err).split()) or type(err).__name__)
    return ImageStatus(size)


def refuse_bomb(image: Image.Image) -> None:
    """Raise PIL's DecompressionBombError for an opened image of over MAX_PIXELS pixels."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise Image.DecompressionBombError(f"{width}x{height} pixels, over the limit of "
                                           f"{MAX_PIXELS} (a decompression bomb?)")


@contextlib.contextmanager
def open_image(path: str | os.PathLike) -> Iterator[Image.Image]:
    """``Image.open(path)`` that raises DecompressionBombError over MAX_PIXELS pixels (and
    does not also warn); for one file at a time (the warning filter is process-wide)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(path)
    with image:
        refuse_bomb(image)
        yield image


def check_images(paths: Sequence[str | os.PathLike], threads: int = CHECK_THREADS
                 ) -> list[ImageStatus]:
    """:func:`check_image` of every path, in order."""
    with warnings.catch_warnings():
        # PIL only warns between its limit and twice its limit (above, it raises); the size
        # check above judges those files instead. The filter is process-wide, so the worker
        # threads see it too.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if threads <= 1 or len(paths) < 2:
            return [check_image(p) for p in paths]
        with ThreadPoolExecutor(min(threads, len(paths))) as pool:
            return list(pool.map(check_image, paths, chunksize=16))


def refuse_bad_images(paths: Sequence[str | os.PathLike], statuses: Sequence[ImageStatus],
                      where: str, flag: str | None) -> None:
    """Raise one line naming the first bad file, how many are bad, and ``flag`` (the option
    that skips them, if there is one); or nothing when all are good."""
    bad = [(path, status.problem) for path, status in zip(paths, statuses) if not status.ok]
    if bad:
        first, problem = bad[0]
        skip = f", or pass {flag} to skip and count them" if flag else ""
        raise DataError(f"cannot read image {first} ({problem}); {len(bad)} of {len(paths)} "
                        f"images in {where} are unreadable: replace or delete them{skip}")
