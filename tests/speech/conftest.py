"""Tiny Speech Commands folders made of synthetic sounds (no espeak-ng needed)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from resnets.speech.wav import write_wav

RATE = 16000


def sound(kind: str, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """Half a second of a steady tone, a rising chirp or a noise burst, in a 1 s clip."""
    t = np.arange(rate // 2) / rate
    if kind == "tone":
        part = np.sin(2 * np.pi * rng.uniform(900, 1100) * t)
    elif kind == "chirp":
        part = np.sin(2 * np.pi * (300 * t + 2500 * t ** 2))
    else:
        part = rng.standard_normal(len(t)) / 2
    clip = 0.005 * rng.standard_normal(rate)
    start = int(rng.integers(0, rate // 2))
    clip[start:start + len(t)] += rng.uniform(0.3, 0.8) * part
    return np.clip(clip, -1, 1).astype(np.float32)


def make_commands(root: Path, per_class: int = 12, seed: int = 0,
                  words: tuple[str, ...] = ("chirp", "noise", "tone")) -> Path:
    """word folders of synthetic clips, the two split lists (1 in 4 each), noise files."""
    rng = np.random.default_rng(seed)
    val, test = [], []
    for word in words:
        (root / word).mkdir(parents=True)
        for i in range(per_class):
            name = f"{word}/spk{i}_nohash_0.wav"
            write_wav(root / name, sound(word, rng), RATE)
            (val if i % 4 == 1 else test if i % 4 == 2 else []).append(name)
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "white.wav",
              0.3 * rng.standard_normal(2 * RATE), RATE)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


def write_pcm16(path: Path, values: list[list[int]], rate: int = RATE) -> None:
    """A 16-bit WAV from integer frames (one list per frame, one value per channel)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(values[0]))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(values, dtype="<i2").tobytes())


@pytest.fixture
def commands(tmp_path) -> Path:
    """A tiny Speech Commands folder: 3 words x 12 clips, lists, one noise file."""
    return make_commands(tmp_path / "commands")


@pytest.fixture
def pcm16():
    """``pcm16(path, frames, rate)``: see :func:`write_pcm16`."""
    return write_pcm16


@pytest.fixture
def synthetic_sound():
    """``synthetic_sound(kind, rng)``: see :func:`sound`."""
    return sound
