"""`resnets average`: the uniform mean of checkpoints of one model, evaluable, BN re-estimated."""

import pytest
import torch

from resnets.cli import main
from resnets.train.checkpoint import load_checkpoint, save_checkpoint
from resnets.train.engine import train
from resnets.train.recipes import recipe_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two resnet20 runs of other seeds, one with projection shortcuts, one of resnet32."""
    out = tmp_path_factory.mktemp("runs")
    for name, extra in [("a", {}), ("b", {"seed": "1"}), ("b_shortcut", {"model.shortcut": "B"}),
                        ("deeper", {"model.name": "resnet32"})]:
        train(recipe_config("synthetic-smoke", {
            "epochs": "1", "device": "cpu", "data.synthetic_size": "32", "batch_size": "8",
            "out_dir": str(out), "run_name": name, **extra}))
    return out


def test_average_is_the_uniform_mean_and_evaluates(runs, tmp_path, capsys):
    out = tmp_path / "soup.pt"
    assert main(["average", str(runs / "a"), str(runs / "b" / "last.pt"), "--out",
                 str(out)]) == 0
    assert f"averaged 2 checkpoints of resnet20: {out}" in capsys.readouterr().out
    a, b = (load_checkpoint(runs / r / "last.pt")["model"] for r in "ab")
    averaged = load_checkpoint(out)
    assert averaged["averaged"]["models"] == 2 and "optimizer" not in averaged
    for key, value in averaged["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (a[key] + b[key]) / 2)
        else:
            assert torch.equal(value, a[key]), key
    assert not torch.equal(averaged["model"]["fc.weight"], a["fc.weight"])
    assert main(["evaluate", str(out), "--out", str(tmp_path)]) == 0
    assert "top-1 error" in capsys.readouterr().out


def test_bn_update_re_estimates_the_statistics_on_the_training_data(runs, tmp_path, capsys):
    assert main(["average", str(runs / "a"), str(runs / "b"), "--out", str(tmp_path),
                 "--bn-update"]) == 0
    out = capsys.readouterr().out
    assert "re-estimated over 4 training batches" in out  # 32 training images / batch 8
    plain = load_checkpoint(runs / "a" / "last.pt")["model"]
    averaged = load_checkpoint(tmp_path / "averaged.pt")["model"]
    means = [k for k in averaged if k.endswith("running_mean")]
    assert means and all(torch.isfinite(averaged[k]).all() for k in means)
    mean_of_runs = (plain[means[0]] + load_checkpoint(runs / "b" / "last.pt")["model"][
        means[0]]) / 2
    assert not torch.allclose(averaged[means[0]], mean_of_runs)
    # update_bn's cumulative average counts the batches it saw.
    assert all(int(averaged[k.replace("running_mean", "num_batches_tracked")]) == 4
               for k in means)


def test_checkpoints_of_one_run_average_too(runs, tmp_path):
    path = save_checkpoint(tmp_path / "copy.pt", load_checkpoint(runs / "a" / "last.pt"))
    assert main(["average", str(runs / "a" / "last.pt"), str(path), "--out",
                 str(tmp_path / "same.pt")]) == 0
    a = load_checkpoint(runs / "a" / "last.pt")["model"]
    same = load_checkpoint(tmp_path / "same.pt")["model"]
    assert all(torch.equal(same[k], a[k]) for k in a)  # the mean of one set of weights


@pytest.mark.parametrize("other, words", [
    ("deeper", "holds resnet32 weights and .* resnet20; average checkpoints of one model"),
    ("b_shortcut", "differ in their tensors .* is in one only"),
    ("a", "is named twice"),
    (None, "two or more checkpoints"),
])
def test_different_models_are_refused_in_one_line(runs, tmp_path, capsys, other, words):
    argv = ["average", str(runs / "a")] + ([str(runs / other)] if other else [])
    assert main([*argv, "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("resnets: error:")
    assert __import__("re").search(words, err), err
    assert not (tmp_path / "x.pt").exists()


def test_other_classes_are_refused(runs, tmp_path, capsys):
    state = load_checkpoint(runs / "b" / "last.pt")
    renamed = save_checkpoint(tmp_path / "renamed.pt",
                              {**state, "classes": [f"c{i}" for i in range(10)]})
    assert main(["average", str(runs / "a"), str(renamed), "--out", str(tmp_path)]) == 2
    assert "trained on other classes" in capsys.readouterr().err


def test_tensors_of_other_shapes_are_refused():
    from resnets.errors import CheckpointError
    from resnets.train.checkpoint_average import _check_same_model

    first = {"model_name": "resnet20", "classes": ["a", "b"], "model": {"w": torch.zeros(2, 3)}}
    other = {**first, "model": {"w": torch.zeros(3, 3)}}
    with pytest.raises(CheckpointError, match=r"'w' has shape \(3, 3\) in y.pt and \(2, 3\) "
                                              "in x.pt; average checkpoints of one model"):
        _check_same_model(first, other, "x.pt", "y.pt")


def test_an_input_is_never_overwritten(runs, capsys):
    last = runs / "a" / "last.pt"
    before = last.read_bytes()
    assert main(["average", str(last), str(runs / "b"), "--out", str(last)]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
    assert main(["average", str(runs / "a"), str(runs / "b"), "--out", str(last)]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
    assert last.read_bytes() == before
