"""A generated text-classification demo set in the AG News CSV format.

Four topics, each with 40 keywords that open with one of the topic's own syllables; every row
is a title and a text of 15-45 words drawn mostly from 300 filler words (other syllables)
shared by all topics, with 15-30% of the words from the row's topic and, as a distractor,
two keywords of another topic. Some words get a typo (two letters swapped), and the
capitalisation varies. A classifier must find which topic's words dominate, wherever they
stand in the text, despite the distractors and the misspellings; a character-level network
can do so from the syllables, without learning each word.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..data.destination import prepare_destination
from ..files import write_text_atomic
from ..limits import FRACTION, SEED, Limit, check_fields, integer
from .csvdata import CLASSES_FILE

TOPICS = ("World", "Sports", "Business", "Sci/Tech")
FILLER_SYLLABLES = ("ka", "lo", "mi", "ren", "tus", "vo", "sel", "dar", "ny", "po", "ga", "bel",
                    "cor", "fi", "hu", "ul")
TOPIC_SYLLABLES = (("zor", "wex", "qua"), ("jib", "oyk", "fep"), ("gux", "vaq", "ith"),
                   ("ebb", "yaz", "kru"))


@dataclass(frozen=True)
class TextDemoConfig:
    train_per_class: int = 500  # training rows per topic
    test_per_class: int = 100  # test rows per topic
    keywords: int = 40  # words belonging to each topic
    fillers: int = 300  # words shared by every topic
    words: tuple[int, int] = (15, 45)  # words per text, uniform range
    topic_share: tuple[float, float] = (0.15, 0.30)  # share of the row's topic words
    distractors: int = 2  # keywords of one other topic in each row
    typo_rate: float = 0.05  # share of words with two letters swapped
    seed: int = 0  # vocabulary and rows

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "train_per_class": integer(1, 100_000), "test_per_class": integer(1, 100_000),
        "keywords": integer(1, 10_000), "fillers": integer(0, 100_000),
        "words": Limit(int, 1, 10_000, many=True),
        "topic_share": Limit(float, 0, 1, open_low=True, many=True),
        "distractors": integer(0, 100), "typo_rate": FRACTION, "seed": SEED,
    }

    def __post_init__(self) -> None:
        check_fields(self)


def make_words(count: int, syllables: tuple[str, ...], rng: np.random.Generator,
               taken: set[str]) -> list[str]:
    """``count`` new pseudo-words: 2-4 syllables, at least one of ``syllables`` first."""
    out = []
    while len(out) < count:
        parts = [str(rng.choice(syllables))]
        parts += list(rng.choice(FILLER_SYLLABLES + syllables, size=int(rng.integers(1, 4))))
        word = "".join(parts)
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


def typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 3:
        return word
    i = int(rng.integers(0, len(word) - 1))
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def make_row(topic: int, keywords: list[list[str]], fillers: list[str], cfg: TextDemoConfig,
             rng: np.random.Generator) -> tuple[str, str]:
    n = int(rng.integers(cfg.words[0], cfg.words[1] + 1))
    n_topic = max(2, int(round(rng.uniform(*cfg.topic_share) * n)))
    other = int(rng.choice([t for t in range(len(keywords)) if t != topic]))
    words = (list(rng.choice(keywords[topic], size=n_topic))
             + list(rng.choice(keywords[other], size=cfg.distractors))
             + list(rng.choice(fillers, size=max(n - n_topic - cfg.distractors, 0))))
    words = [typo(w, rng) if rng.random() < cfg.typo_rate else w
             for w in rng.permutation(words)]
    title = " ".join(words[:int(rng.integers(3, 7))]).title()
    text = " ".join(words[len(title.split()):]).capitalize() + "."
    return title, text


def make_text_demo(out: str, cfg: TextDemoConfig = TextDemoConfig(), force: bool = False
                   ) -> dict:
    """Write train.csv, test.csv and classes.txt under ``out``, which must be new or empty
    unless ``force`` (see :mod:`resnets.data.destination`); returns the row counts."""
    root = prepare_destination(out, force)
    rng = np.random.default_rng(cfg.seed)
    taken: set[str] = set()
    keywords = [make_words(cfg.keywords, own, rng, taken) for own in TOPIC_SYLLABLES]
    fillers = make_words(cfg.fillers, FILLER_SYLLABLES, rng, taken)
    write_text_atomic(root / CLASSES_FILE, "\n".join(TOPICS) + "\n")
    counts = {}
    for split, per_class in (("train", cfg.train_per_class), ("test", cfg.test_per_class)):
        labels = rng.permutation(np.repeat(np.arange(len(TOPICS)), per_class))
        rows = io.StringIO(newline="")
        writer = csv.writer(rows, quoting=csv.QUOTE_ALL)
        for label in labels:
            writer.writerow([int(label) + 1, *make_row(int(label), keywords, fillers, cfg, rng)])
        write_text_atomic(root / f"{split}.csv", rows.getvalue())
        counts[split] = len(labels)
    return counts
