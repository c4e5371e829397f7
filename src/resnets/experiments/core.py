"""An experiment: member runs, then figures, tables and a report from their results."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ResnetsError
from .runner import MemberResult, run_members
from .settings import (Budget, ExperimentConfig, Member, check, check_depths, command_line,
                       parse_budget)

REPORT = "report.md"


@dataclass(frozen=True)
class Spec:
    """How one experiment builds its members and reports their results."""

    name: str
    depths: tuple[int, ...]  # default depths
    budgets: dict  # default budget per dataset ("other" for the rest)
    members: Callable[[ExperimentConfig, Budget], list[Member]]
    # Writes the figures, CSV files and report; returns the lines to print at the end.
    report: Callable[[ExperimentConfig, list[MemberResult], Path, str], list[str]]
    steps_only: bool = False  # the budget must be given in steps
    allowed_depths: tuple[int, ...] = ()  # depths it can run; () = any the rule allows
    depth_rule: Callable[[Sequence[int]], None] = check_depths  # raises for a bad depth

    def resolve(self, cfg: ExperimentConfig) -> ExperimentConfig:
        """``cfg`` with the defaults filled in, checked."""
        budget = cfg.budget or self.budgets.get(cfg.data, self.budgets["other"])
        cfg = dataclasses.replace(cfg, budget=budget, depths=cfg.depths or self.depths)
        check(cfg, self.depth_rule)
        if self.steps_only and not parse_budget(cfg.budget).steps:
            raise ResnetsError(f"{self.name} counts its budget in steps; write e.g. "
                               f"--budget {self.budgets['other']}")
        bad = [d for d in cfg.depths if self.allowed_depths and d not in self.allowed_depths]
        if bad:
            raise ResnetsError(f"{self.name} cannot run depth {bad[0]}; --depths must be among "
                               f"{', '.join(map(str, self.allowed_depths))}")
        return cfg


def default_out(cfg: ExperimentConfig) -> Path:
    return Path("runs") / "experiments" / f"{cfg.name}-{cfg.data}"


def run(spec: Spec, cfg: ExperimentConfig, out: Path | None = None) -> tuple[Path, list[str]]:
    """Run (or continue) the experiment; returns the report's path and the lines to print."""
    cfg = spec.resolve(cfg)
    out = Path(out) if out is not None else default_out(cfg)
    budget = parse_budget(cfg.budget)
    members = spec.members(cfg, budget)
    started = time.perf_counter()
    try:
        results = run_members(cfg, budget, members, out)
    except SystemExit as stop:  # Ctrl-C: the member saved its checkpoint
        print(f"continue the experiment with:\n  resnets experiment --resume {out}",
              flush=True)
        raise stop
    lines = spec.report(cfg, results, out, command_line(cfg, out))
    seconds = time.perf_counter() - started
    train_seconds = sum(r.summary["train_seconds"] for r in results)
    lines.append(f"{len(results)} member runs, {train_seconds:.0f} s of training in all "
                 f"({seconds:.0f} s in this invocation)")
    return out / REPORT, lines
