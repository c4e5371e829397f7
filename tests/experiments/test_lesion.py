"""The lesion experiment: what removing one block computes, and the command end to end."""

import copy
import csv

import pytest
import torch
from torch import nn

from resnets.cli import main
from resnets.models import create_model
from resnets.experiments.lesion import (accuracy, changes_shape, lesion_rows, network_blocks,
                                        removed)

TINY = ["--data", "synthetic", "--device", "cpu", "data.synthetic_size=40", "data.resize=8",
        "batch_size=8", "eval_batch_size=64"]


def trained_like(name):
    """A tiny network whose BN statistics are not the identity (as after training)."""
    torch.manual_seed(0)
    model = create_model(name, depth=8, num_classes=10)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("index", [0, 1])  # an identity block and a downsampling one
def test_removing_a_residual_block_equals_zeroing_its_branch(index):
    model, x = trained_like("cifar_resnet"), torch.randn(3, 3, 8, 8)
    zeroed = copy.deepcopy(model)
    bn = network_blocks(zeroed)[index][1].bn2  # F(x) = bn2(...) = 0
    nn.init.zeros_(bn.weight)
    nn.init.zeros_(bn.bias)
    with torch.no_grad(), removed(network_blocks(model)[index][1]):
        lesioned = model(x)
    with torch.no_grad():
        assert torch.allclose(lesioned, zeroed(x), atol=1e-6)
        assert not torch.allclose(lesioned, model(x), atol=1e-3)  # restored after the block


def test_removing_a_plain_block_replaces_it_by_the_parameter_free_shortcut():
    model, x = trained_like("cifar_plain"), torch.randn(3, 3, 8, 8)
    first, second = network_blocks(model)[0][1], network_blocks(model)[1][1]
    assert not changes_shape(first) and changes_shape(second)
    with torch.no_grad():
        features = model.act1(model.bn1(model.conv1(x)))
        skipped = model.layer3(model.layer2(features))  # layer1 (one block) left out
        with removed(first):
            assert torch.allclose(model.forward_features(x), skipped, atol=1e-6)
        halved = model.layer3(torch.nn.functional.pad(  # stride-2, zero-padded channels
            model.layer1(features)[:, :, ::2, ::2], (0, 0, 0, 0, 0, 16)))
        with removed(second):
            assert torch.allclose(model.forward_features(x), halved, atol=1e-6)


def test_lesion_rows_measure_the_intact_net_then_each_block_removed():
    model, x = trained_like("cifar_resnet"), torch.randn(16, 3, 8, 8)
    labels = model(x).argmax(1)  # the intact net is right on every image
    rows = lesion_rows(model, [(x, labels)], torch.device("cpu"))
    assert [r["name"] for r in rows] == ["none", "layer1.0", "layer2.0", "layer3.0"]
    assert rows[0]["accuracy"] == 1.0
    assert [r["downsampling"] for r in rows] == [False, False, True, True]
    with removed(network_blocks(model)[2][1]):
        assert rows[3]["accuracy"] == accuracy(model, [(x, labels)], torch.device("cpu"))


@pytest.fixture(scope="module")
def lesion(tmp_path_factory):
    out = tmp_path_factory.mktemp("lesion") / "exp"
    assert main(["experiment", "lesion", "--budget", "3", "--depths", "8", *TINY,
                 "--out", str(out)]) == 0
    return out


def test_lesion_writes_figure_csv_and_report_from_its_runs(lesion):
    data = (lesion / "lesion.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000
    with open(lesion / "lesion.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["network"], r["name"]) for r in rows} == {
        (net, name) for net in ("plain", "resnet")
        for name in ("none", "layer1.0", "layer2.0", "layer3.0")}
    report = (lesion / "report.md").read_text()
    intact = next(r for r in rows if (r["network"], r["name"]) == ("resnet", "none"))
    assert f"| resnet | 8 | {100 * float(intact['accuracy']):.2f} |" in report
    assert "![test accuracy with one block removed](lesion.png)" in report


def test_lesion_of_given_runs_trains_nothing(lesion, tmp_path):
    runs = [str(lesion / "runs" / name) for name in ("resnet8-seed0", "plain8-seed0")]
    out = tmp_path / "given"
    assert main(["experiment", "lesion", "--runs", ",".join(runs), "--device", "cpu",
                 "--out", str(out)]) == 0
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())
    assert (out / "lesion.csv").read_text().count("layer2.0") == 2
    assert "--runs" in (out / "report.md").read_text()


@pytest.mark.parametrize("argv,message", [
    (["degradation", "--runs", "."], "degradation trains its own: drop --runs"),
    (["lesion", "--runs", "no/such/run"], "is not a run directory"),
])
def test_bad_runs_are_one_line(argv, message, capsys, tmp_path):
    assert main(["experiment", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
