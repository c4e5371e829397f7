"""`resnets experiment transformer-skips`: the relative residual by hand, the per-block
gradient norms, and a tiny run end to end whose measured rank collapse is checked."""

import csv
import json
import math

import pytest
import torch

from resnets.cli import main
from resnets.experiments import gradients, runner, transformers
from resnets.models import create_model
from resnets.train.context import StopAfterStep

from launching import assert_members_match

TINY = ["--data", "synthetic", "--device", "cpu", "data.synthetic_size=40", "data.resize=8",
        "batch_size=8", "eval_batch_size=64"]


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_relative_residual_by_hand():
    tokens = torch.tensor([[[1.0, 2.0], [1.0, 2.0]],    # one token twice: rank 1, residual 0
                           [[1.0, 0.0], [-1.0, 0.0]],   # mean token 0: all of X is residual
                           [[2.0, 0.0], [0.0, 0.0]]])   # X - 1x^T = [[1, 0], [-1, 0]]
    torch.testing.assert_close(transformers.relative_residual(tokens),
                               torch.tensor([0.0, 1.0, math.sqrt(2) / 2]))


def test_block_gradient_norms_take_every_parameter_of_each_block():
    model = create_model("vit_digits", depth=3)
    model(torch.randn(2, 3, 16, 16)).sum().backward()
    rows = gradients.layer_grad_norms(model, transformers.transformer_blocks)
    assert [r["name"] for r in rows] == ["blocks.0", "blocks.1", "blocks.2"]
    for row, block in zip(rows, model.blocks):
        grads = torch.cat([p.grad.flatten() for p in block.parameters()])
        assert row["grad_norm"] == pytest.approx(grads.norm().item(), rel=1e-5)
        weights = torch.cat([p.detach().flatten() for p in block.parameters()])
        assert row["weight_norm"] == pytest.approx(weights.norm().item(), rel=1e-5)


def test_measuring_the_variants_leaves_the_random_stream_alone():
    hook = transformers.TokenRankHook("vit_digits", 2, seed=0, variants=True)

    class Ctx:  # what the hook reads of a run's context
        step, device, model = 0, torch.device("cpu"), create_model("vit_digits", depth=2)
        data = type("Data", (), {"test": [(torch.randn(4, 3, 16, 16), None)]})()

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    hook.on_train_start(Ctx)
    torch.testing.assert_close(torch.rand(3), expected)
    assert {r["variant"] for r in hook.records} == {"trained", *transformers.VARIANTS}
    count = len(hook.records)
    hook.on_train_start(Ctx)  # again (a resumed run): measured once only
    assert len(hook.records) == count


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    out = tmp_path_factory.mktemp("transformer-skips") / "exp"
    assert main(["experiment", "transformer-skips", "--budget", "3", "--depths", "1,4",
                 *TINY, "--out", str(out)]) == 0
    return out


def test_writes_figures_tables_report_and_member_runs(experiment):
    out = experiment
    for name in ("report.md", "accuracy.csv", "token_residuals.csv", "grad_norms.csv",
                 "ratios.csv"):
        assert (out / name).is_file(), name
    for name in ("rank_collapse.png", "gradients.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == sorted(f"vit-{n}{d}-seed0" for n in ("skips", "no-skips") for d in (1, 4))
    config = json.loads((out / "runs" / "vit-no-skips4-seed0" / "config.json").read_text())
    assert (config["model"]["name"], config["model"]["depth"]) == ("vit_digits", 4)
    assert config["model"]["shortcut"] == "none" and config["optim"]["name"] == "adamw"
    report = (out / "report.md").read_text()
    assert "resnets experiment transformer-skips --data synthetic --budget 3" in report
    assert "(rank_collapse.png)" in report and "| no-skips | 4 |" in report


def test_pure_attention_collapses_with_depth_and_skips_keep_the_rank(experiment):
    rows = [r for r in read_csv(experiment / "token_residuals.csv") if r["when"] == "init"]

    def curve(variant):
        mine = [r for r in rows if r["variant"] == variant and r["network"] == "skips"]
        return [float(r["residual"]) for r in sorted(mine, key=lambda r: int(r["layer"]))]

    pure, skips = curve("pure attention"), curve("attention + skips")
    assert len(pure) == len(skips) == 5  # the embedded patches, then each of the 4 blocks
    assert pure[0] > 0.1 and pure[0] == pytest.approx(skips[0])  # the same embedding
    assert pure[1] < 0.5 * pure[0] and pure[4] < 1e-3 * pure[0]  # shrinks block by block
    assert min(skips) > 0.5 * skips[0]  # the skips carry the tokens through
    assert "Rank collapse is visible" in (experiment / "report.md").read_text()


def test_gradient_norms_of_every_block_at_the_first_and_last_step(experiment):
    rows = read_csv(experiment / "grad_norms.csv")
    for net in ("skips", "no-skips"):
        for depth in (1, 4):
            for step in (0, 3):
                mine = [r for r in rows if (r["network"], r["depth"], r["step"])
                        == (net, str(depth), str(step))]
                assert [r["name"] for r in mine] == [f"blocks.{i}" for i in range(depth)]
                assert all(float(r["grad_norm"]) > 0 for r in mine)


def test_accuracy_is_each_runs_final_test_accuracy(experiment):
    for row in read_csv(experiment / "accuracy.csv"):
        run = experiment / "runs" / f"vit-{row['network']}{row['depth']}-seed{row['seed']}"
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        final = [m["test_error"] for m in metrics if m.get("test_error") is not None][-1]
        assert float(row["test_accuracy"]) == pytest.approx(1 - final)


@pytest.mark.parametrize("args, message", [
    (["transformer-skips", "--depths", "60"], "1 to 48 blocks, not 60"),
    (["transformer-skips", "--budget", "3e"], "in steps"),
    (["degradation", "--depths", "4"], "depth 4 is not a CIFAR network depth 6n+2"),
])
def test_bad_settings_are_one_line_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "exp"
    assert main(["experiment", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_gradient_figure_names_blocks_on_its_axis(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(gradients, "save_figure", lambda fig, path: figures.append(fig))
    rows = [{"network": net, "depth": 2, "seed": 0, "step": step, "layer": layer,
             "grad_norm": 1.0} for net in transformers.NETWORKS for step in (0, 3)
            for layer in (1, 2)]
    gradients.plot_norms(rows, [2], 3, tmp_path / "g.png", tuple(transformers.NETWORKS),
                         "blocks")
    axes = figures[0].axes
    assert [ax.get_title() for ax in axes[:2]] == ["skips at initialisation",
                                                   "no-skips at initialisation"]
    assert axes[-1].get_xlabel() == "layer index (blocks, input side first)"


@pytest.mark.slow  # two experiments (30 s on the shared CPU); the engine's resume tests are quick
def test_an_interrupted_member_resumes_to_the_same_weights_and_measurements(tmp_path,
                                                                            monkeypatch):
    args = ["transformer-skips", "--budget", "5", "--depths", "2", *TINY, "deterministic=true"]
    assert main(["experiment", *args, "--out", str(tmp_path / "ref")]) == 0
    real_train = runner.train

    def interrupted_train(cfg, resume_dir=None, hooks=()):
        if cfg.run_name == "vit-skips2-seed0" and resume_dir is None:
            hooks = [*hooks, StopAfterStep(3)]  # after the init measurements, before step 5's
        return real_train(cfg, resume_dir=resume_dir, hooks=hooks)

    monkeypatch.setattr(runner, "train", interrupted_train)
    out = tmp_path / "exp"
    with pytest.raises(SystemExit):
        main(["experiment", *args, "--out", str(out)])
    assert main(["experiment", "--resume", str(out)]) == 0
    assert_members_match(out, tmp_path / "ref", ("vit-skips2-seed0", "vit-no-skips2-seed0"), 6)
    for name in ("token_residuals.csv", "grad_norms.csv"):
        assert read_csv(out / name) == read_csv(tmp_path / "ref" / name), name
