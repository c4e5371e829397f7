"""Run an experiment's member runs in its directory, resuming where it stopped.

Layout: ``<out>/experiment.json`` (the settings), ``<out>/runs/<member>/`` (one normal run
directory per member) and, once every member has finished, the figures, CSV files and
``report.md``. Running the same command again (or ``--resume <out>``) skips members whose
``summary.json`` exists and resumes the others from their last checkpoint.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ResnetsError
from ..readback import read_json, read_json_lines
from ..train.checkpoint import CheckpointManager, previous_path
from ..train.config import TrainConfig, validate
from ..train.engine import train
from .settings import (SETTINGS_FILE, Budget, ExperimentConfig, Member, load_settings,
                       member_config, save_settings)

RUNS = "runs"


@dataclass
class MemberResult:
    """A finished member: its labels, run directory, summary and per-epoch metrics."""

    member: Member
    config: TrainConfig
    run_dir: Path
    summary: dict
    rows: list[dict]

    @property
    def labels(self) -> dict:
        return self.member.labels

    def final(self, key: str) -> float:
        """The last logged value of ``key`` (e.g. ``train_error``)."""
        values = [r[key] for r in self.rows if r.get(key) is not None]
        if not values:
            raise ResnetsError(f"{self.run_dir} logged no {key}; its metrics.jsonl is damaged,"
                               " delete the run directory and run the experiment again")
        return values[-1]


def prepare_directory(cfg: ExperimentConfig, out: Path) -> None:
    """Create ``out`` or check that it holds this experiment with the same settings."""
    saved = load_settings(out)
    if saved is None:
        if out.exists() and any(out.iterdir()):
            raise ResnetsError(f"{out} exists and is not an experiment directory (no "
                               f"{SETTINGS_FILE}); choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        save_settings(cfg, out)
        return
    if saved != cfg:
        diff = [f"{k}: {getattr(saved, k)!r} there, {getattr(cfg, k)!r} now"
                for k in saved.__dataclass_fields__ if getattr(saved, k) != getattr(cfg, k)]
        raise ResnetsError(f"{out} holds a run of other settings ({'; '.join(diff)}); continue "
                           f"it with --resume {out} or choose another --out")
    print(f"continuing the experiment in {out}", flush=True)


def run_members(cfg: ExperimentConfig, budget: Budget, members: list[Member],
                out: Path) -> list[MemberResult]:
    """Train every member not yet finished, in order; return all of them finished."""
    runs_dir = out / RUNS
    configs = [member_config(cfg, budget, m, runs_dir) for m in members]
    for config in configs:  # every member's mistake shows before the directory is made
        validate(config)
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names repeat: {names}")
    prepare_directory(cfg, out)
    results = []
    for i, (member, config) in enumerate(zip(members, configs), 1):
        run_dir = runs_dir / member.name
        label = f"[{i}/{len(members)}] {member.name}"
        if (run_dir / "summary.json").is_file():
            print(f"{label}: finished earlier, skipped", flush=True)
        else:
            _train_member(config, member, run_dir, label)
        results.append(read_result(member, config, run_dir))
    return results


def _train_member(config: TrainConfig, member: Member, run_dir: Path, label: str) -> None:
    ckpt = CheckpointManager(run_dir).last_path
    started = time.perf_counter()
    if ckpt.exists() or previous_path(ckpt).exists():
        print(f"{label}: resuming from its last checkpoint", flush=True)
        train(config, resume_dir=run_dir, hooks=member.hooks())
    else:
        if run_dir.exists():  # stopped before its first checkpoint: start it afresh
            shutil.rmtree(run_dir)
        print(f"{label}: training", flush=True)
        train(config, hooks=member.hooks())
    print(f"{label}: done in {time.perf_counter() - started:.0f} s", flush=True)


def read_result(member: Member, config: TrainConfig, run_dir: Path) -> MemberResult:
    fix = "delete the run's folder and run the experiment again to retrain it"
    summary = read_json(run_dir / "summary.json", "run summary", fix)
    rows = read_json_lines(run_dir / "metrics.jsonl", "run metrics", fix)
    return MemberResult(member, config, run_dir, summary, rows)
