"""An offline keyword-spotting demo set: words spoken by espeak-ng, in the Speech Commands
layout.

Each clip is one word said by one of several espeak-ng voices and variants at a random
speed, pitch and loudness, placed at a random point of a one-second, 16 kHz clip with a
little white noise; ``_background_noise_`` gets white, brown and mains-hum noise for the
training augmentation. One in ten clips goes to ``validation_list.txt`` and one in ten to
``testing_list.txt`` (drawn with the seed). espeak-ng comes from the distribution
(``apt-get install espeak-ng``); the generator stops with one line if it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..data.destination import prepare_destination
from ..errors import DataError
from ..files import write_text_atomic
from ..limits import SEED, Limit, check_fields, integer, number
from .commands import NOISE_DIR, SPLIT_LISTS
from .features import FeatureConfig
from .wav import read_wav, resample, write_wav

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us+f2", "en-gb+f3",
          "en-us+m3", "en-gb+m5", "en-029+f4", "en-us+klatt", "en-gb-x-rp+f1")


@dataclass(frozen=True)
class DemoConfig:
    words: tuple[str, ...] = WORDS  # the keywords, one folder each
    clips_per_word: int = 120  # clips per word (all splits together)
    speed: tuple[int, int] = (110, 220)  # espeak-ng words per minute, uniform range
    pitch: tuple[int, int] = (15, 85)  # espeak-ng pitch 0..99, uniform range
    gain: tuple[float, float] = (0.25, 0.9)  # peak amplitude of the spoken word
    noise_level: float = 0.01  # standard deviation of the white noise under every clip
    held_out: float = 0.1  # share of clips for validation, and again for testing
    noise_seconds: int = 20  # length of each background-noise file
    seed: int = 0  # voices, speeds, placements, noise and the split
    workers: int = 2  # espeak-ng processes at a time

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "words": Limit(str, many=True), "clips_per_word": integer(10, 100_000),
        "speed": Limit(int, 80, 500, many=True), "pitch": Limit(int, 0, 99, many=True),
        "gain": Limit(float, 0, 1, open_low=True, many=True), "noise_level": number(0, 1),
        "held_out": number(0, 0.5, open_low=True, open_high=True),
        "noise_seconds": integer(1, 3600), "seed": SEED, "workers": integer(1, 256),
    }

    def __post_init__(self) -> None:
        check_fields(self)


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise DataError("espeak-ng is not installed; install the distribution package "
                        "espeak-ng (Debian/Ubuntu: apt-get install espeak-ng) and run again")
    return path


def speak(binary: str, word: str, voice: str, speed: int, pitch: int, workdir: Path,
          rate: int) -> np.ndarray:
    """One word from espeak-ng, resampled to ``rate`` Hz, leading and trailing silence cut."""
    out = workdir / f"{word}-{voice}-{speed}-{pitch}.wav".replace("+", "_")
    subprocess.run([binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out),
                    word], check=True, capture_output=True)
    samples, source_rate = read_wav(out)
    out.unlink()
    samples = resample(samples, source_rate, rate)
    loud = np.nonzero(np.abs(samples) > 0.02 * np.abs(samples).max())[0]
    return samples[loud[0]:loud[-1] + 1] if len(loud) else samples


def background_noise(kind: str, seconds: int, rate: int, rng: np.random.Generator
                     ) -> np.ndarray:
    n = seconds * rate
    white = rng.standard_normal(n)
    if kind == "white":
        noise = white
    elif kind == "brown":  # integrated white noise, its slow drift removed
        walk = np.cumsum(white)
        noise = walk - np.convolve(walk, np.ones(801) / 801, mode="same")
    else:  # mains hum: 50 Hz and harmonics over a little white noise
        t = np.arange(n) / rate
        noise = sum(np.sin(2 * np.pi * 50 * h * t) / h for h in (1, 2, 3, 5)) + 0.3 * white
    return (0.5 * noise / np.abs(noise).max()).astype(np.float32)


def make_demo(out: str, cfg: DemoConfig = DemoConfig(), features: FeatureConfig = FeatureConfig(),
              force: bool = False) -> dict:
    """Write the demo set under ``out``, which must be new or empty unless ``force`` (see
    :mod:`resnets.data.destination`); returns counts per split."""
    binary = espeak_binary()
    root = prepare_destination(out, force)
    rng = np.random.default_rng(cfg.seed)
    jobs = []
    for word in cfg.words:
        for i in range(cfg.clips_per_word):
            jobs.append((word, i, VOICES[rng.integers(len(VOICES))],
                         int(rng.integers(cfg.speed[0], cfg.speed[1] + 1)),
                         int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1))))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(cfg.workers) as pool:
        spoken = list(pool.map(lambda j: speak(binary, j[0], j[2], j[3], j[4], Path(tmp),
                                               features.sample_rate), jobs))
    names, length = [], features.clip_samples
    for (word, i, voice, speed, pitch), samples in zip(jobs, spoken):
        samples = samples[:length] * (rng.uniform(*cfg.gain) / max(np.abs(samples).max(), 1e-6))
        clip = rng.standard_normal(length).astype(np.float32) * cfg.noise_level
        start = int(rng.integers(0, length - len(samples) + 1))
        clip[start:start + len(samples)] += samples
        speaker = f"{voice.replace('+', '-')}{speed}p{pitch}"
        name = f"{word}/{speaker}_nohash_{i}.wav"
        write_wav(root / name, clip, features.sample_rate)
        names.append(name)
    for kind in ("white", "brown", "hum"):
        write_wav(root / NOISE_DIR / f"{kind}.wav",
                  background_noise(kind, cfg.noise_seconds, features.sample_rate, rng),
                  features.sample_rate)
    order = rng.permutation(len(names))
    held = int(round(cfg.held_out * len(names)))
    val, test = sorted(names[i] for i in order[:held]), sorted(
        names[i] for i in order[held:2 * held])
    write_text_atomic(root / SPLIT_LISTS["val"], "\n".join(val) + "\n")
    write_text_atomic(root / SPLIT_LISTS["test"], "\n".join(test) + "\n")
    return {"train": len(names) - 2 * held, "val": len(val), "test": len(test),
            "words": len(cfg.words)}
