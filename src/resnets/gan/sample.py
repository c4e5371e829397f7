"""``resnets gan sample``: a grid of a trained run's generator (its EMA when it has one)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..files import check_writable
from ..train.device import resolve_device
from ..train.metadata import check_fits
from ..train.task_checkpoint import read_averaged_run
from .config import GanConfig
from .grid import save_grid, write_grid_png
from .task import build_networks


def load_generator(path: str | os.PathLike, device):
    """(the generator in eval mode, the run's config) of a run directory or checkpoint."""
    state, cfg, weights = read_averaged_run(path, "gan", GanConfig)
    pair = build_networks(cfg, len(state["classes"]), state["in_chans"])
    check_fits(pair, weights, f"checkpoint {str(path)!r}", classes=0)
    pair.load_state_dict(weights)
    return pair.generator.to(device).eval(), cfg, len(state["classes"])


def sample_grid(checkpoint, out, columns: int | None, seed: int, device: str = "auto") -> Path:
    check_writable(Path(out).parent or ".")
    dev = resolve_device(device)
    generator, cfg, classes = load_generator(checkpoint, dev)
    if columns:
        cfg = replace(cfg, eval=replace(cfg.eval, grid_columns=columns))
    write_grid_png(save_grid(generator, classes, cfg, dev, seed), out)
    return Path(out)
