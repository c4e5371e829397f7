"""Every experiment by name."""

from __future__ import annotations

from pathlib import Path

from ..errors import ResnetsError, did_you_mean
from .comparisons import PREACT, SHORTCUTS
from .core import Spec, run
from .degradation import SPEC as DEGRADATION
from .gradients import SPEC as GRADIENTS
from .lesion import SPEC as LESION
from .overfitting import SPEC as OVERFITTING
from .responses import SPEC as RESPONSES
from .settings import ExperimentConfig
from .transformers import SPEC as TRANSFORMER_SKIPS

EXPERIMENTS: dict[str, Spec] = {s.name: s for s in (DEGRADATION, GRADIENTS, RESPONSES,
                                                     SHORTCUTS, PREACT, OVERFITTING,
                                                     TRANSFORMER_SKIPS, LESION)}


def get_spec(name: str) -> Spec:
    if name not in EXPERIMENTS:
        raise ResnetsError(f"unknown experiment {name!r}{did_you_mean(name, EXPERIMENTS)}; "
                           f"choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def run_experiment(cfg: ExperimentConfig, out: str | Path | None = None
                   ) -> tuple[Path, list[str]]:
    """Run (or continue) an experiment; returns the report's path and the lines to print."""
    return run(get_spec(cfg.name), cfg, out)
