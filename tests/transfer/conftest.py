"""Tiny image folders and a private torch.hub cache for the transfer-learning tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnets.models import pretrained

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def make_image_folder(root: Path, classes: list[str], counts: dict[str, int],
                      size: int = 12, seed: int = 0) -> Path:
    """``root/<split>/<class>/<i>.png``: noisy squares of each class's colour."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                noise = rng.integers(-25, 26, size=(size, size, 3))
                pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path):
    """``image_folder(classes, counts)`` -> a new folder under tmp_path."""
    made = []

    def make(classes=("red", "blue"), counts=None, size=12, seed=0):
        root = tmp_path / f"images{len(made)}"
        made.append(root)
        return make_image_folder(root, list(classes), counts or {"train": 4, "val": 2}, size,
                                 seed)

    return make


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch.hub cache, and ``publish(model_name, state)`` that serves ``state`` as
    that model's v1 weights from a local folder (a file:// URL, named with its hash)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    server = tmp_path / "server"
    server.mkdir()
    monkeypatch.setattr(pretrained, "TORCHVISION_MODELS", server.as_uri() + "/")

    def publish(model_name: str, state: dict, tag: str = "v1", hash_digits: str = "") -> Path:
        staging = server / "staging.pth"
        torch.save(state, staging)
        digest = hash_digits or hashlib.sha256(staging.read_bytes()).hexdigest()[:8]
        path = staging.rename(server / f"{model_name}-{digest}.pth")
        monkeypatch.setitem(pretrained.PUBLISHED, (model_name, tag),
                            pretrained.PublishedWeights(model_name, tag, path.name, 0.0, 0.0, 256))
        return path

    return publish


@pytest.fixture
def train_run(tmp_path):
    """``train_run(root, name, *overrides, model=...)``: `resnets train` for two steps on an
    image folder at 16 pixels; returns the exit status (the run is ``tmp_path / name``)."""
    from resnets.cli import main

    def run(root: Path, name: str, *extra: str, model: str = "resnet20") -> int:
        return main(["train", "--model", model, "--data", "folder", "--root", str(root),
                     "--iterations", "2", "--batch-size", "4", "--device", "cpu",
                     "--out", str(tmp_path), "--name", name, "data.image_size=16",
                     "data.workers=0", "eval_batch_size=8", "schedule.name=constant", *extra])

    return run
