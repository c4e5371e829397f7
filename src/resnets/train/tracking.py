"""Experiment trackers as engine hooks: MLflow and Weights & Biases, for every task.

``log.mlflow=DIR`` records the run in an MLflow tracking store (a directory is a local file
store; a URI such as ``sqlite:///mlflow.db`` or ``http://host:5000`` is used as it is);
``log.wandb=PROJECT`` records it in a W&B project, offline unless ``log.wandb_mode=online``
(an offline run is uploaded later with ``wandb sync``). Each gets the configuration once, one
row of metrics per evaluated epoch (at its step) and the final summary; a resumed run goes on
in the tracker's run it started (its id is kept with the checkpoint). Only rank 0
reports.

Neither library is imported unless asked for: they are optional extras
(``pip install -e ".[mlflow]"``, ``".[wandb]"``), and a missing one is a one-line error
before any data is read.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import time
from pathlib import Path
from typing import Any

from ..errors import ResnetsError
from .config import to_dict
from .context import Context, Hook
from .sections import LogConfig

# The package each tracker needs, and what installs it.
TRACKER_PACKAGES = {
    "mlflow": ("mlflow", 'pip install mlflow-skinny (or pip install -e ".[mlflow]")'),
    "wandb": ("wandb", 'pip install wandb (or pip install -e ".[wandb]")'),
}
MLFLOW_BATCH = 100  # MLflow takes at most this many params (or metrics) per log_batch call


def tracking_hooks(cfg: Any) -> list[Hook]:
    """The tracker hooks ``cfg.log`` asks for; a tracker whose library is missing is refused
    in one line. Every process gets them (so that all hold the same hooks, in checkpoint
    order); only rank 0's report."""
    log = getattr(cfg, "log", None)
    wanted = [name for name in TRACKER_PACKAGES if log is not None and getattr(log, name)]
    for name in wanted:
        package, install = TRACKER_PACKAGES[name]
        if importlib.util.find_spec(package) is None:
            raise ResnetsError(f"log.{name}={getattr(log, name)} needs the {package} package, "
                               f"which is not installed: {install}, or leave log.{name} empty")
    return [MLflowHook(log) if name == "mlflow" else WandbHook(log) for name in wanted]


def flat_config(cfg: Any) -> dict[str, Any]:
    """``{"optim.lr": 0.1, ...}``: the run's configuration as dotted settings."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            flat[prefix[:-1]] = value

    walk("", to_dict(cfg))
    return flat


def numbers(row: dict[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a metrics row (flags and text left out)."""
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v) and k not in ("step", "epoch")}


class Tracker(Hook):
    """A hook that reports from rank 0 only: ``start``, ``epoch`` and ``end`` do the work."""

    active = False

    def on_train_start(self, ctx: Context) -> None:
        self.active = ctx.is_main
        if self.active:
            self.start(ctx)

    def on_epoch_end(self, ctx: Context, row: dict) -> None:
        if self.active:
            self.epoch(ctx, row)

    def on_train_end(self, ctx: Context, summary: dict) -> None:
        if self.active:
            self.end(ctx, summary)

    def start(self, ctx: Context) -> None: ...
    def epoch(self, ctx: Context, row: dict) -> None: ...
    def end(self, ctx: Context, summary: dict) -> None: ...


class MLflowHook(Tracker):
    """Reports to MLflow through its client (no process-wide active run is left behind)."""

    def __init__(self, log: LogConfig) -> None:
        self.mlflow = importlib.import_module("mlflow")
        target = log.mlflow
        if "://" not in target and not target.startswith("file:"):
            target = Path(target).expanduser().resolve().as_uri()
        if target.startswith("file:"):
            # MLflow 3 keeps directory stores only on request; a directory is what was asked.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.uri, self.experiment, self.run_id = target, log.experiment, ""
        self.client = None

    def start(self, ctx: Context) -> None:
        from mlflow.entities import Param

        self.client = self.mlflow.tracking.MlflowClient(tracking_uri=self.uri)
        if self.run_id:  # a resumed run: the same MLflow run goes on
            self.client.update_run(self.run_id, status="RUNNING")
            return
        found = self.client.get_experiment_by_name(self.experiment)
        experiment = (found.experiment_id if found is not None
                      else self.client.create_experiment(self.experiment))
        run = self.client.create_run(experiment, run_name=ctx.run_dir.name,
                                     tags={"resnets.run_dir": str(ctx.run_dir)})
        self.run_id = run.info.run_id
        params = [Param(k, str(v)) for k, v in flat_config(ctx.cfg).items()]
        for i in range(0, len(params), MLFLOW_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + MLFLOW_BATCH])

    def epoch(self, ctx: Context, row: dict) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, int(row["step"])) for k, v in numbers(row).items()]
        for i in range(0, len(metrics), MLFLOW_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + MLFLOW_BATCH])

    def end(self, ctx: Context, summary: dict) -> None:
        self.client.log_dict(self.run_id, summary, "summary.json")
        self.client.set_terminated(self.run_id)

    def state_dict(self) -> dict:
        return {"mlflow_run_id": self.run_id}

    def load_state_dict(self, state: dict) -> None:
        self.run_id = state.get("mlflow_run_id", "")


class WandbHook(Tracker):
    """Reports to a W&B run whose files live in the run directory (``RUN_DIR/wandb``)."""

    def __init__(self, log: LogConfig) -> None:
        self.wandb = importlib.import_module("wandb")
        self.project, self.mode, self.run_id = log.wandb, log.wandb_mode, ""
        self.run = None

    def start(self, ctx: Context) -> None:
        self.run = self.wandb.init(
            project=self.project, name=ctx.run_dir.name, dir=str(ctx.run_dir),
            mode=self.mode, config=flat_config(ctx.cfg), id=self.run_id or None,
            resume="allow" if self.run_id else None)
        self.run_id = self.run.id

    def epoch(self, ctx: Context, row: dict) -> None:
        self.run.log(numbers(row), step=int(row["step"]))

    def end(self, ctx: Context, summary: dict) -> None:
        self.run.summary.update(summary)
        self.run.finish()

    def state_dict(self) -> dict:
        return {"wandb_run_id": self.run_id}

    def load_state_dict(self, state: dict) -> None:
        self.run_id = state.get("wandb_run_id", "")
