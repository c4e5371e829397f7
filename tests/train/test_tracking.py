"""MLflow and W&B hooks (log.mlflow, log.wandb): the configuration once, a row per epoch, the
summary, one tracker run across a resume; nothing imported unless asked for."""

import collections
import json
import subprocess
import sys
import types

import pytest

from resnets.cli import main
from resnets.train.context import StopAfterStep
from resnets.train.engine import train
from test_engine import tiny_config

NOT_IMPORTED = """
import sys
import types
import resnets.cli
from resnets.train.engine import train
from resnets.train.recipes import recipe_config
train(recipe_config("synthetic-smoke", {"data.synthetic_size": "16", "batch_size": "16",
      "epochs": "1", "device": "cpu", "out_dir": sys.argv[1]}))
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mlflow", "wandb")))
"""


def test_no_tracker_library_is_imported_unless_asked_for(tmp_path):
    out = subprocess.run([sys.executable, "-c", NOT_IMPORTED, str(tmp_path)], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    assert out.splitlines()[-1] == "[]"


def test_a_missing_tracker_library_is_one_line_naming_pip_install(tmp_path, monkeypatch,
                                                                  capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    argv = ["train", "--recipe", "synthetic-smoke", "--device", "cpu", "--epochs", "1",
            "--out", str(tmp_path / "runs"), f"log.mlflow={tmp_path / 'ml'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install mlflow-skinny" in err and "log.mlflow" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_mlflow_gets_config_rows_and_summary_in_one_run_across_a_resume(tmp_path):
    mlflow = pytest.importorskip("mlflow")  # in [test] (mlflow-skinny<2.13: pyproject.toml);
    # an environment without the test extras still has the fake-client test below
    store = tmp_path / "mlruns"
    cfg = tiny_config(tmp_path, run_name="m", **{"log.mlflow": str(store)})
    with pytest.raises(SystemExit):
        train(cfg, hooks=[StopAfterStep(3)])  # epoch 1 logged, stopped inside epoch 2
    summary = train(cfg, resume_dir=tmp_path / "m")
    client = mlflow.tracking.MlflowClient(store.as_uri())
    experiment = client.get_experiment_by_name("resnets")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "m" and run.info.status == "FINISHED"
    assert run.data.params["optim.lr"] == "0.05" and run.data.params["epochs"] == "3"
    rows = [json.loads(line) for line in (tmp_path / "m/metrics.jsonl").read_text().splitlines()]
    history = client.get_metric_history(run.info.run_id, "test_error")
    assert [(m.step, m.value) for m in history] == [(r["step"], r["test_error"]) for r in rows]
    saved = json.loads(open(client.download_artifacts(run.info.run_id, "summary.json",
                                                      str(tmp_path))).read())
    assert saved["test_error"] == summary["test_error"] and saved["steps"] == summary["steps"] == 9


def test_wandb_offline_run_gets_config_rows_and_summary(tmp_path, monkeypatch):
    import wandb  # in the test extras: no skip
    from wandb.sdk import wandb_run

    logged, inits = [], []
    real_init, real_log = wandb.init, wandb_run.Run.log
    monkeypatch.setattr(wandb, "init", lambda **kw: inits.append(kw) or real_init(**kw))
    monkeypatch.setattr(wandb_run.Run, "log", lambda self, data, step=None, **kw: (
        logged.append((step, dict(data))), real_log(self, data, step=step, **kw))[1])
    monkeypatch.setenv("WANDB_SILENT", "true")
    summary = train(tiny_config(tmp_path, run_name="w", **{"log.wandb": "resnets-test"}))
    (init,) = inits
    assert init["mode"] == "offline" and init["project"] == "resnets-test"
    assert init["config"]["optim.lr"] == 0.05 and init["dir"] == str(tmp_path / "w")
    rows = [json.loads(line) for line in (tmp_path / "w/metrics.jsonl").read_text().splitlines()]
    assert [(s, d["test_error"]) for s, d in logged] == [(r["step"], r["test_error"])
                                                         for r in rows]
    (record,) = (tmp_path / "w" / "wandb").glob("offline-run-*/run-*.wandb")
    data = record.read_bytes()  # the offline log W&B uploads with `wandb sync`
    assert b"test_error" in data and b"optim.lr" in data and b"train_seconds" in data
    assert summary["steps"] == 9


class FakeMlflowClient:
    """What the hook asks of MLflow's client, recorded (for machines without mlflow)."""

    calls = []

    def __init__(self, tracking_uri):
        self.calls.append(("client", tracking_uri))

    def get_experiment_by_name(self, name):
        return None

    def create_experiment(self, name):
        self.calls.append(("experiment", name))
        return "7"

    def create_run(self, experiment, run_name, tags):
        self.calls.append(("run", experiment, run_name))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id="r1"))

    def log_batch(self, run_id, params=(), metrics=()):
        self.calls += [("param", p.key, p.value) for p in params]
        self.calls += [("metric", m.key, m.value, m.step) for m in metrics]

    def log_dict(self, run_id, data, name):
        self.calls.append(("artifact", name, data["steps"]))

    def set_terminated(self, run_id):
        self.calls.append(("end", run_id))


def test_mlflow_hook_calls_the_client_api_for_config_rows_and_summary(tmp_path, monkeypatch):
    import importlib.machinery

    fake = types.ModuleType("mlflow")
    fake.__spec__ = importlib.machinery.ModuleSpec("mlflow", None)
    fake.tracking = types.SimpleNamespace(MlflowClient=FakeMlflowClient)
    entities = types.ModuleType("mlflow.entities")
    entities.Param = collections.namedtuple("Param", "key value")
    entities.Metric = collections.namedtuple("Metric", "key value timestamp step")
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setitem(sys.modules, "mlflow.entities", entities)
    monkeypatch.setattr(FakeMlflowClient, "calls", [])
    summary = train(tiny_config(tmp_path, run_name="f", epochs=2,
                                **{"log.mlflow": str(tmp_path / "store")}))
    calls = FakeMlflowClient.calls
    assert calls[:3] == [("client", (tmp_path / "store").as_uri()), ("experiment", "resnets"),
                         ("run", "7", "f")]
    assert ("param", "optim.lr", "0.05") in calls and ("param", "log.mlflow",
                                                      str(tmp_path / "store")) in calls
    rows = [json.loads(line) for line in (tmp_path / "f/metrics.jsonl").read_text().splitlines()]
    assert [c[2:] for c in calls if c[:2] == ("metric", "test_error")] == [
        (r["test_error"], r["step"]) for r in rows]
    assert calls[-2:] == [("artifact", "summary.json", summary["steps"]), ("end", "r1")]
