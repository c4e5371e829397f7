"""The Speech Commands folder layout (Warden 2018, arXiv:1804.03209).

::

    ROOT/yes/0a7c2a8d_nohash_0.wav      one folder per word (the class names)
    ROOT/no/...
    ROOT/_background_noise_/*.wav        long noise recordings for augmentation (optional)
    ROOT/validation_list.txt             "word/file.wav" per line: the validation clips
    ROOT/testing_list.txt                "word/file.wav" per line: the test clips

Every other clip trains. Without the two lists, clips are split by the dataset's own rule:
the SHA-1 of the file name up to ``_nohash_`` (the speaker) puts 10% in validation and 10%
in testing, so one speaker's clips stay in one split.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import Samples
from ..errors import DataError
from ..train.logger import progress
from .features import FeatureConfig
from .wav import read_wav, resample

NOISE_DIR = "_background_noise_"
SPLIT_LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
HASH_BUCKETS = 2 ** 27 - 1  # the dataset's MAX_NUM_WAVS_PER_CLASS
HOLD_OUT_PERCENT = 10.0  # validation and testing each, when the lists are missing


@dataclass
class SpeechCommands:
    """The three splits as int16 clips of one second, and the background noise."""

    train: Samples
    val: Samples
    test: Samples
    noise: torch.Tensor  # 1-D float32 in [-1, 1]: every noise file, one after the other
    skipped: list[str] = field(default_factory=list)  # "path: why" of each file left out


def hash_split(name: str) -> str:
    """'train', 'val' or 'test' for a file name, by the Speech Commands README's rule."""
    speaker = re.sub(r"_nohash_.*$", "", Path(name).name)
    bucket = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16) % (HASH_BUCKETS + 1)
    percent = bucket * (100.0 / HASH_BUCKETS)
    if percent < HOLD_OUT_PERCENT:
        return "val"
    return "test" if percent < 2 * HOLD_OUT_PERCENT else "train"


def word_folders(root: Path) -> list[str]:
    """Class names: the sub-folders holding WAV files, except ``_background_noise_``."""
    if not root.is_dir():
        raise DataError(f"speech data folder {str(root)!r} does not exist; point data.root at "
                        "a Speech Commands layout (one folder of WAV files per word)")
    words = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith(("_", "."))
                   and any(p.glob("*.wav")))
    if len(words) < 2:
        raise DataError(f"{str(root)!r} holds {len(words)} word folders with WAV files; "
                        "keyword spotting needs at least two")
    return words


def _read_list(root: Path, split: str, words: list[str]) -> set[str] | None:
    path = root / SPLIT_LISTS[split]
    if not path.is_file():
        return None
    names = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip().replace("\\", "/")
        if not entry:
            continue
        if entry.split("/")[0] in words and not (root / entry).is_file():
            raise DataError(f"{path}:{number}: lists {entry!r}, which does not exist under "
                            f"{root}")
        names.add(entry)
    return names


def clip_to_int16(samples: np.ndarray, length: int) -> np.ndarray:
    """The first ``length`` samples (zero-padded) as int16."""
    clip = np.zeros(length, dtype=np.float32)
    clip[:min(length, len(samples))] = samples[:length]
    return np.round(np.clip(clip, -1.0, 1.0) * 32767).astype(np.int16)


def load_clip(path: Path, cfg: FeatureConfig) -> np.ndarray:
    """One file as ``cfg.sample_rate`` float32 samples (resampled when its rate differs)."""
    samples, rate = read_wav(path)
    return resample(samples, rate, cfg.sample_rate)


def load_speech_commands(root: str, cfg: FeatureConfig = FeatureConfig(),
                         skip_bad: bool = False, show_progress: bool = True) -> SpeechCommands:
    """Read every clip under ``root`` into memory; a bad file raises unless ``skip_bad``."""
    base = Path(root)
    words = word_folders(base)
    lists = {split: _read_list(base, split, words) for split in SPLIT_LISTS}
    files = [(f"{w}/{p.name}", label) for label, w in enumerate(words)
             for p in sorted((base / w).glob("*.wav"))]
    clips, labels, splits, skipped = [], [], [], []
    for rel, label in progress(files, len(files), "read clips", enabled=show_progress):
        try:
            samples = load_clip(base / rel, cfg)
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
            continue
        clips.append(clip_to_int16(samples, cfg.clip_samples))
        labels.append(label)
        if lists["val"] is None and lists["test"] is None:
            splits.append(hash_split(rel))
        else:
            splits.append("val" if rel in (lists["val"] or ()) else
                          "test" if rel in (lists["test"] or ()) else "train")
    if not clips:
        raise DataError(f"no readable WAV clip under {root}")
    all_clips = torch.from_numpy(np.stack(clips))
    all_labels = torch.tensor(labels, dtype=torch.int64)
    parts = {}
    for split in ("train", "val", "test"):
        keep = torch.tensor([s == split for s in splits], dtype=torch.bool)
        parts[split] = Samples(all_clips[keep], all_labels[keep], list(words))
    for split in ("train", "test"):
        if not len(parts[split]):
            raise DataError(f"the {split} split under {root} is empty; list test clips in "
                            f"{SPLIT_LISTS['test']} (or remove both lists to split by hash)")
    return SpeechCommands(parts["train"], parts["val"], parts["test"],
                          load_noise(base, cfg, skip_bad, skipped), skipped)


def load_noise(root: Path, cfg: FeatureConfig, skip_bad: bool,
               skipped: list[str]) -> torch.Tensor:
    """Every WAV under ``_background_noise_``, concatenated (empty when there is none)."""
    parts = []
    for path in sorted((root / NOISE_DIR).glob("*.wav")):
        try:
            parts.append(load_clip(path, cfg))
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
    return torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0)
