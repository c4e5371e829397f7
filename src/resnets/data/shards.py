"""WebDataset tar shards, read with the standard library (``data.dataset=webdataset``).

A shard is a plain tar whose members are grouped by key, as the webdataset library writes
them: ``KEY.jpg`` (or ``.jpeg``, ``.png``, ``.webp``) holds the image and ``KEY.cls`` its class
index as decimal text; the key is the member's path up to the first dot of its file name.
Shards are named by a directory (its ``*.tar`` files, sorted) or a brace pattern
(``/data/train-{000000..000146}.tar``, ``{a,b}`` lists too).

Why not the webdataset package (``pip install webdataset`` resolves cleanly: webdataset,
braceexpand, numpy, pyyaml): its pipelines stream an IterableDataset and hand whole shards to
each process and worker, so processes whose shards hold different numbers of samples run
different numbers of steps (DDP then hangs or drops data), and an interrupted epoch cannot
resume at its exact batch. A tar is simple enough to read here: indexing the member headers
once (the data is skipped by seeking) makes the shards a map-style dataset, so the engine's
:class:`~resnets.data.steps.StepLoader` shares each epoch's global batches over the processes
and its batches over the workers: every sample once per epoch under DDP, resumed bit-exact,
each worker reading its members by offset (a tar is not compressed).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from ..files import atomic_path
from .decode import decode_image, decode_tensor, resolve_decoder
from .imagecheck import check_image

SHARD_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SHARD_FIX = ("rewrite the shard, or skip unreadable samples (data.skip_corrupt=true)")
_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")


def expand_braces(pattern: str) -> list[str]:
    """``a{01..03}{x,y}`` -> a01x, a01y, a02x, ... (ranges keep the width of their start)."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    body = match.group(0)
    numbers = _RANGE.fullmatch(body)
    if numbers:
        low, high = numbers.groups()
        if int(high) < int(low):
            raise DataError(f"shard pattern {pattern!r}: range {body} runs backwards")
        choices = [str(n).zfill(len(low)) for n in range(int(low), int(high) + 1)]
    else:
        choices = match.group(1).split(",")
    return [name for c in choices for name in expand_braces(head + c + tail)]


def shard_paths(spec: str) -> list[str]:
    """The shard files a directory or a brace pattern names; each must exist."""
    hint = "name a directory of .tar shards or a pattern such as /data/train-{000..009}.tar"
    if not spec:
        raise DataError(f"data.root is empty: {hint}")
    path = Path(spec).expanduser()
    if path.is_dir():
        shards = sorted(str(p) for p in path.glob("*.tar"))
        if not shards:
            raise DataError(f"no .tar shards in {path}; {hint}")
        return shards
    shards = expand_braces(str(path))
    missing = [s for s in shards if not os.path.isfile(s)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"shard {missing[0]}{more} not found for {spec!r}; {hint}")
    return shards


def _index_shard(shard: str) -> list[tuple[str, str, int, int, int]]:
    """(key, image member name, data offset, size, label) of every sample of one shard."""
    groups: dict[str, dict[str, tarfile.TarInfo]] = {}
    labels: dict[str, str] = {}
    try:
        with tarfile.open(shard, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                folder, name = os.path.split(member.name)
                stem, dot, ext = name.partition(".")
                key = os.path.join(folder, stem)
                if ext == "cls":
                    labels[key] = tar.extractfile(member).read().decode("utf-8", "replace")
                groups.setdefault(key, {})["." + ext.lower() if dot else ""] = member
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"cannot read shard {shard} ({' '.join(str(err).split())}); "
                        "rewrite it or leave it out of data.root") from None
    samples = []
    for key, members in groups.items():
        images = [members[s] for s in SHARD_IMAGE_SUFFIXES if s in members]
        if not images or key not in labels:
            lacking = f"{key}.cls" if images else f"an image ({'/'.join(SHARD_IMAGE_SUFFIXES)})"
            raise DataError(f"shard {shard}: sample {key!r} has no {lacking}; every sample "
                            "needs KEY.cls (its class index) and KEY.jpg or KEY.png")
        text = labels[key].strip()
        if not text.isdigit():
            raise DataError(f"shard {shard}: {key}.cls holds {text[:20]!r}, not a class "
                            "index (a whole number from 0)")
        image = images[0]
        samples.append((key, image.name, image.offset_data, image.size, int(text)))
    return samples


class TarShardDataset(torch.utils.data.Dataset):
    """(transform(image), label) pairs of the samples in ``shards`` (see the module docs).

    Construction indexes every shard and, with ``check``, verifies every image as image
    folders do; a bad sample stops it in one line, or is left out and listed in ``skipped``
    with ``skip_corrupt``. ``transform`` receives a uint8 3 x H x W tensor (``decoder``
    ``auto`` or ``torchvision``) or an RGB PIL image (``pil``). Classes are the indices 0 to
    the largest label, unless ``classes`` names them.
    """

    def __init__(self, shards: Sequence[str], transform: Callable | None = None,
                 decoder: str = "auto", check: bool = True, skip_corrupt: bool = False,
                 classes: Sequence[str] | None = None) -> None:
        if not shards:
            raise DataError("no shards given; name a directory of .tar shards or a pattern")
        self.shards, self.transform = list(shards), transform
        self.decoder = resolve_decoder(decoder)
        self._files: dict[int, Any] = {}  # shard index -> open file, of this process
        self._pid = os.getpid()
        self.samples = [(i, *sample) for i, shard in enumerate(self.shards)
                        for sample in _index_shard(shard)]
        if not self.samples:
            raise DataError(f"the shards {self.shards[0]}... hold no samples")
        self.skipped: list[str] = []
        if check or skip_corrupt:
            self._check(skip_corrupt)
        top = max(sample[-1] for sample in self.samples)
        self.classes = list(classes) if classes is not None else [str(c) for c in range(top + 1)]
        if top >= len(self.classes):
            raise DataError(f"a .cls in {self.shards[0]}... says class {top}, but there are "
                            f"only {len(self.classes)} classes")

    def _check(self, skip_corrupt: bool) -> None:
        kept = []
        for sample in self.samples:
            status = check_image(io.BytesIO(self._read(sample)))
            if status.ok:
                kept.append(sample)
                continue
            where = f"{self.shards[sample[0]]}:{sample[2]}"
            if not skip_corrupt:
                raise DataError(f"cannot read image {where} ({status.problem}); {SHARD_FIX}")
            self.skipped.append(where)
        if not kept:
            raise DataError(f"none of the images in {self.shards[0]}... can be decoded")
        self.samples = kept

    @property
    def targets(self) -> list[int]:
        return [sample[-1] for sample in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, sample: tuple) -> bytes:
        shard, _, _, offset, size, _ = sample
        if self._pid != os.getpid():  # a worker process: open files of its own
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            self._files[shard] = open(self.shards[shard], "rb")
        file = self._files[shard]
        file.seek(offset)
        return file.read(size)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        sample = self.samples[index]
        name = f"{self.shards[sample[0]]}:{sample[2]}"
        data = self._read(sample)
        if self.decoder == "pil" and self.transform is not None:
            return self.transform(decode_image(data, SHARD_FIX, name)), sample[-1]
        image = decode_tensor(data, self.decoder, SHARD_FIX, name)
        return (image if self.transform is None else self.transform(image)), sample[-1]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_files": {}}  # open files stay with their process

    def __del__(self) -> None:
        for file in getattr(self, "_files", {}).values():
            file.close()


def write_shards(samples: Iterable[tuple[bytes, str, int]], out_dir: str | os.PathLike,
                 per_shard: int = 1000, prefix: str = "shard") -> list[Path]:
    """Write (encoded image, suffix such as ".jpg", label) samples as tar shards of
    ``per_shard`` samples each, ``out_dir/prefix-000000.tar`` on; returns the shard paths."""
    out, written, batch = Path(out_dir), [], []

    def flush() -> None:
        path = out / f"{prefix}-{len(written):06d}.tar"
        with atomic_path(path) as tmp, tarfile.open(tmp, "w") as tar:
            for key, data, suffix, label in batch:
                for name, payload in ((key + suffix, data), (key + ".cls", b"%d" % label)):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        written.append(path)
        batch.clear()

    for number, (data, suffix, label) in enumerate(samples):
        batch.append((f"{number:09d}", data, suffix, label))
        if len(batch) == per_shard:
            flush()
    if batch:
        flush()
    return written


def folder_to_shards(root: str | os.PathLike, out_dir: str | os.PathLike,
                     per_shard: int = 1000) -> dict[str, list[Path]]:
    """Copy an image folder (``root/train``, ``root/val``) into ``out_dir/train/*.tar`` and
    ``out_dir/val/*.tar``, files unchanged, labels the folder's class indices."""
    from .folder import ImageFolderDataset

    written = {}
    for split in ("train", "val"):
        folder = ImageFolderDataset(root, split, check=False)
        files = ((Path(path).read_bytes(), Path(path).suffix.lower(), label)
                 for path, label in folder.samples)
        written[split] = write_shards(files, Path(out_dir) / split, per_shard, split)
    return written
