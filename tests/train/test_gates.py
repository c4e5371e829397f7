"""Training gated models: the rate loss in the objective, a gated run resumes bit for bit,
`resnets evaluate` reports the gates, and gate settings that cannot apply stop in one line."""

import json

import pytest
import torch
import torch.nn.functional as F

from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.gated import gate_decisions
from resnets.train.config import apply_overrides, check_settings
from resnets.train.gates import rate_loss
from resnets.train.objectives import build_objective
from resnets.train.recipes import recipe_config

from test_engine import straight_and_resumed

GATED = {"model.name": "cifar_resnet_gated", "model.depth": "8", "gate.target": "0.5"}


def test_the_objective_of_a_gated_model_adds_the_weighted_rate_loss():
    cfg = recipe_config("synthetic-smoke", {**GATED, "gate.weight": "3"})
    objective = build_objective(cfg, [0.5] * 3, [0.25] * 3, 10)
    torch.manual_seed(0)
    net = create_model("cifar_resnet_gated", depth=8, num_classes=10).train()
    images, labels = torch.randn(8, 3, 8, 8), torch.arange(8)
    loss, logits = objective(net, images, labels)
    expected = F.cross_entropy(logits, labels) + 3 * rate_loss(gate_decisions(net), 0.5)
    assert loss.item() == pytest.approx(expected.item())
    assert loss.item() != pytest.approx(F.cross_entropy(logits, labels).item())


def test_an_interrupted_gated_run_resumes_bitwise_identical(tmp_path):
    straight, _ = straight_and_resumed(tmp_path, **GATED)
    state = torch.load(straight / "last.pt", weights_only=True)
    assert any(key.endswith("gate.fc2.weight") for key in state["model"])


def test_evaluate_reports_the_gates_clean_and_noised(tmp_path, capsys):
    argv = ["train", "--recipe", "synthetic-smoke", "--epochs", "1", "--device", "cpu",
            "data.synthetic_size=32", "batch_size=16", "eval_batch_size=32",
            "model.name=cifar_resnet_gated", "model.depth=8", "--out", str(tmp_path),
            "--name", "g"]
    assert main(argv) == 0
    assert main(["evaluate", str(tmp_path / "g"), "--noise", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "gates (clean): " in out and "gates (noise 0.5): " in out
    gates = json.loads((tmp_path / "g" / "evaluation-test.json").read_text())["gates"]
    for stats in gates.values():
        assert len(stats["executed_per_block"]) == 3 and stats["images"] == 8
        assert 0 < stats["macs_per_image"] <= stats["macs_all_blocks"]
    assert gates["noised"]["noise"] == 0.5 and gates["clean"]["noise"] == 0


def test_noise_for_a_model_without_gates_is_one_line(tmp_path, capsys):
    argv = ["train", "--recipe", "synthetic-smoke", "--epochs", "1", "--device", "cpu",
            "data.synthetic_size=32", "batch_size=16", "--out", str(tmp_path), "--name", "r"]
    assert main(argv) == 0
    assert main(["evaluate", str(tmp_path / "r"), "--noise", "0.5"]) == 2
    assert "this model has no gates; drop --noise" in capsys.readouterr().err


@pytest.mark.parametrize("settings,message", [
    ({"gate.target": "0.5"}, "resnet20 has none: use e.g. model.name=resnet56_gated"),
    ({**GATED, "gate.target": "1.5"}, "gate.target"),
    ({**GATED, "gate.weight": "-1"}, "gate.weight"),
])
def test_impossible_gate_settings_are_one_line(settings, message):
    with pytest.raises(ResnetsError, match=message) as err:
        check_settings(apply_overrides(recipe_config("synthetic-smoke"), settings))
    assert "\n" not in str(err.value)
