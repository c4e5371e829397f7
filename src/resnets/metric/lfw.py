"""LFW-format verification sets: one folder per identity, ``Name/Name_0001.jpg`` ..., and a
``pairs.txt`` as LFW publishes it (Huang et al. 2007, "View 2"): the first line gives the
number of folds and of pairs per fold (``10 300``); then, fold by fold, that many matched
pairs ``name i j`` followed by that many mismatched pairs ``name1 i name2 j`` (1-based image
numbers). Images may be ``.jpg``, ``.jpeg`` or ``.png``.

:func:`read_pairs` checks the whole file and every image it names before anything is
embedded; :func:`write_pairs` builds such a set from labelled images, deterministic by seed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.destination import prepare_destination
from ..errors import DataError
from ..files import atomic_path, write_text_atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Pair:
    first: Path
    second: Path
    same: bool
    fold: int


def image_path(root: Path, name: str, number: int) -> Path | None:
    """The file of image ``number`` of identity ``name``, or None."""
    for suffix in IMAGE_SUFFIXES:
        path = root / name / f"{name}_{number:04d}{suffix}"
        if path.is_file():
            return path
    return None


def read_pairs(root: str | os.PathLike, pairs_file: str | os.PathLike | None = None
               ) -> list[Pair]:
    """Every pair of ``pairs_file`` (default ``ROOT/pairs.txt``), each image checked."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{str(root)!r} is not a folder; point it at the folder of identity "
                        "folders")
    path = Path(pairs_file) if pairs_file else root / "pairs.txt"
    if not path.is_file():
        raise DataError(f"{str(path)!r} does not exist; write LFW's pairs.txt there (or "
                        "`resnets metric pairs` one) or pass --pairs FILE")
    lines = [(n, line.split()) for n, line in
             enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if line.strip()]
    if not lines:
        raise DataError(f"{path} is empty; its first line is the number of folds and of "
                        "pairs per fold, e.g. '10 300'")
    folds, per_fold = _header(path, lines[0])
    body = lines[1:]
    if len(body) != 2 * folds * per_fold:
        raise DataError(f"{path} announces {folds} folds of {per_fold} matched and "
                        f"{per_fold} mismatched pairs ({2 * folds * per_fold} lines) but has "
                        f"{len(body)} pair lines; fix its first line or its pairs")
    pairs = []
    for index, (number, fields) in enumerate(body):
        fold, same = index // (2 * per_fold), index % (2 * per_fold) < per_fold
        pairs.append(_pair(root, path, number, fields, same, fold))
    return pairs


def _header(path: Path, line: tuple[int, list[str]]) -> tuple[int, int]:
    number, fields = line
    try:
        values = [int(f) for f in fields]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise DataError(f"{path}:{number}: the first line must be the number of folds and of "
                        f"pairs per fold, e.g. '10 300', not {' '.join(fields)!r}")
    return (1, values[0]) if len(values) == 1 else (values[0], values[1])


def _pair(root: Path, path: Path, number: int, fields: list[str], same: bool,
          fold: int) -> Pair:
    where = f"{path}:{number}"
    want = "'name i j' (a matched pair)" if same else "'name1 i name2 j' (a mismatched pair)"
    if len(fields) != (3 if same else 4):
        raise DataError(f"{where}: expected {want}, got {' '.join(fields)!r}")
    names = [fields[0], fields[0]] if same else [fields[0], fields[2]]
    numbers = fields[1:] if same else [fields[1], fields[3]]
    if not all(n.isdigit() and int(n) > 0 for n in numbers):
        raise DataError(f"{where}: image numbers are positive integers; got "
                        f"{' '.join(fields)!r}")
    if same and numbers[0] == numbers[1]:
        raise DataError(f"{where}: a matched pair of image {numbers[0]} with itself; a matched "
                        "pair needs two images of the identity")
    files = []
    for name, n in zip(names, numbers):
        file = image_path(root, name, int(n))
        if file is None:
            folder = root / name
            if not folder.is_dir():
                raise DataError(f"{where} names identity {name!r} but {folder} is not a folder")
            held = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if same and held < 2:
                raise DataError(f"{where}: {name!r} has {held} image in {folder}; a matched "
                                "pair needs two images of the identity")
            raise DataError(f"{where} names {name}_{int(n):04d} but {folder} holds no "
                            f"{name}_{int(n):04d}.jpg/.jpeg/.png")
        files.append(file)
    return Pair(files[0], files[1], same, fold)


def write_pairs(dest: str | os.PathLike, images: torch.Tensor, labels: torch.Tensor,
                names: list[str], folds: int, per_fold: int, seed: int,
                force: bool = False) -> Path:
    """Write ``images`` (N x C x H x W uint8; C = 1 or 3) as identity folders of PNGs under
    ``dest`` and an LFW ``pairs.txt`` of ``folds`` x ``per_fold`` matched and mismatched
    pairs drawn with ``seed`` (no pair twice; folds share identities, unlike LFW's)."""
    from PIL import Image

    members = {names[c]: torch.nonzero(labels == c).flatten().tolist()
               for c in range(len(names))}
    members = {name: idx for name, idx in members.items() if idx}
    matchable = [n for n, idx in members.items() if len(idx) >= 2]
    if not matchable or len(members) < 2:
        raise DataError("a pairs set needs two identities and one of them with two images")
    dest = prepare_destination(dest, force)
    rng = random.Random(seed)
    seen: set[tuple] = set()

    def draw(same: bool) -> tuple:
        for _ in range(1000):
            if same:
                name = rng.choice(matchable)
                i, j = sorted(rng.sample(range(1, len(members[name]) + 1), 2))
                key = (name, i, j)
            else:
                a, b = sorted(rng.sample(sorted(members), 2))
                key = (a, rng.randint(1, len(members[a])), b, rng.randint(1, len(members[b])))
            if key not in seen:
                seen.add(key)
                return key
        raise DataError(f"not enough distinct pairs for {folds} x {per_fold}; lower "
                        "--per-fold or --folds")

    lines = [f"{folds} {per_fold}"]
    for _ in range(folds):
        lines += [" ".join(map(str, draw(True))) for _ in range(per_fold)]
        lines += [" ".join(map(str, draw(False))) for _ in range(per_fold)]
    for name, indices in members.items():
        (dest / name).mkdir(exist_ok=True)
        for n, index in enumerate(indices, 1):
            pixels = images[index].permute(1, 2, 0).squeeze(-1).numpy()
            with atomic_path(dest / name / f"{name}_{n:04d}.png") as tmp:
                Image.fromarray(pixels).save(tmp, format="PNG")
    return write_text_atomic(dest / "pairs.txt", "\n".join(lines) + "\n")


def write_pairs_from_dataset(dest: str, dataset: str, root: str, split: str, classes: str,
                             folds: int, per_fold: int, per_identity: int, seed: int,
                             force: bool) -> Path:
    """``resnets metric pairs``: the chosen classes of a labelled dataset as an LFW set."""
    from .. import data as D
    from .config import parse_classes

    if dataset == "digits":
        parts = [D.load_digits(s, test_fraction=0.2, seed=0)
                 for s in (("train", "test") if split == "all" else (split,))]
    else:
        if not root:
            raise DataError(f"--dataset {dataset} needs --root, the folder of its files")
        parts = [D.load_cifar(root, dataset, s)
                 for s in (("train", "test") if split == "all" else (split,))]
    images = torch.cat([p.images for p in parts])
    labels = torch.cat([p.labels for p in parts])
    names = [n.replace(" ", "_") for n in parts[0].classes]
    chosen = parse_classes(classes, len(names))
    keep = torch.isin(labels, torch.tensor(chosen))
    if per_identity:
        rank = torch.zeros_like(labels)
        for c in chosen:
            idx = torch.nonzero(labels == c).flatten()
            rank[idx] = torch.arange(len(idx))
        keep &= rank < per_identity
    kept = torch.nonzero(keep).flatten()
    return write_pairs(dest, images[kept], labels[kept], names, folds, per_fold, seed, force)
