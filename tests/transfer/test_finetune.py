"""Fine-tuning: frozen stages (BatchNorm included), pretrained sources, `resnets train`."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from resnets.errors import CheckpointError, ResnetsError
from resnets.models import create_model
from resnets.train.checkpoint import load_checkpoint
from resnets.train.config import TrainConfig, apply_overrides
from resnets.train.engine import train
from resnets.train.optim import build_optimizer
from resnets.train.setup import build_model, load_run_config
from resnets.transfer import freeze_stages, load_pretrained
from resnets.weights import save_weights


def numel(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def frozen_names(model) -> set[str]:
    return {name.split(".")[0] for name, p in model.named_parameters() if not p.requires_grad}


def bn_state(module) -> list[torch.Tensor]:
    return [t.clone() for m in module.modules() if isinstance(m, _BatchNorm)
            for t in (m.running_mean, m.running_var, m.num_batches_tracked)]


def test_freezing_two_stages_of_a_resnet():
    model = create_model("resnet20", num_classes=4)
    frozen = freeze_stages(model, 2)
    assert frozen == numel(model.conv1, model.bn1, model.layer1, model.layer2)
    assert frozen_names(model) == {"conv1", "bn1", "layer1", "layer2"}
    model.train()  # what the engine does every epoch
    before_frozen, before_free = bn_state(model.layer2), bn_state(model.layer3)
    loss = model(torch.randn(4, 3, 16, 16)).sum()
    loss.backward()
    assert all(a.equal(b) for a, b in zip(before_frozen, bn_state(model.layer2)))
    assert not before_free[0].equal(bn_state(model.layer3)[0])  # trainable BN keeps learning
    assert model.layer1[0].conv1.weight.grad is None and model.layer3[0].conv1.weight.grad \
        is not None
    assert model.layer2[0].bn1.training is False and model.layer3[0].bn1.training is True


def test_a_frozen_batchnorm_normalises_with_its_running_statistics_in_training():
    model = create_model("resnet20", num_classes=4)
    freeze_stages(model, 1)
    bn = model.bn1
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    model.train()
    x = torch.randn(2, 3, 8, 8)
    stem = model.conv1(x)
    expected = (stem - bn.running_mean[:, None, None]) / torch.sqrt(
        bn.running_var[:, None, None] + bn.eps) * bn.weight[:, None, None] \
        + bn.bias[:, None, None]
    torch.testing.assert_close(bn(stem), expected)


@pytest.mark.parametrize("name,stages", [("resnet20", -1), ("resnet20", 3),
                                         ("preact_resnet110", 3)])
def test_the_whole_backbone_leaves_only_the_classifier(name, stages):
    model = create_model(name, num_classes=4)
    freeze_stages(model, stages)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    opt = build_optimizer(model, lr=0.1)
    assert sum(len(g["params"]) for g in opt.param_groups) == 2


def test_densenet_stages_end_at_their_feature_maps():
    model = create_model("cifar_densenet", depth=10, growth_rate=4, num_classes=3)
    freeze_stages(model, 2)
    frozen_blocks = {n.split(".")[1] for n, p in model.named_parameters()
                     if not p.requires_grad}
    assert frozen_blocks == {"conv0", "denseblock1", "transition1", "denseblock2"}
    assert model.features.transition2.conv.weight.requires_grad


@pytest.mark.parametrize("stages,words", [(4, "has 3 stages; use at most 3"),
                                          (-2, "must be >= 0")])
def test_impossible_freezes_are_refused(stages, words):
    with pytest.raises(ResnetsError, match=words):
        freeze_stages(create_model("resnet20"), stages)


def test_a_state_dict_file_with_another_head_loads_as_a_backbone(tmp_path):
    source = create_model("resnet20", num_classes=10)
    path = save_weights(source, tmp_path / "resnet20.safetensors")
    model = create_model("resnet20", num_classes=3)
    head = model.fc.weight.detach().clone()
    done = load_pretrained(model, str(path), "resnet20")
    assert done == {"head_loaded": False, "stem_adapted": False}
    torch.testing.assert_close(model.layer3[2].conv2.weight, source.layer3[2].conv2.weight)
    torch.testing.assert_close(model.fc.weight, head)
    with pytest.raises(CheckpointError, match="neither 'imagenet' nor an existing"):
        load_pretrained(model, str(tmp_path / "missing.pt"), "resnet20")


def test_build_model_loads_then_freezes(tmp_path):
    source = create_model("resnet20", num_classes=10)
    path = save_weights(source, tmp_path / "w.safetensors")
    cfg = apply_overrides(TrainConfig(), {"model.pretrained": str(path),
                                          "model.freeze_stages": "1"})
    model = build_model(cfg, 5, 3, torch.device("cpu"))
    torch.testing.assert_close(model.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    assert frozen_names(model) == {"conv1", "bn1", "layer1"} and model.fc.out_features == 5
    fresh = build_model(cfg, 5, 3, torch.device("cpu"), load_pretrained=False)
    assert not fresh.layer1[0].conv1.weight.equal(source.layer1[0].conv1.weight)
    assert frozen_names(fresh) == {"conv1", "bn1", "layer1"}  # a resumed run's groups match


def test_train_fine_tunes_a_run_with_frozen_stages_end_to_end(image_folder, train_run,
                                                              tmp_path, capsys):
    source_data = image_folder(("red", "blue"))
    target_data = image_folder(("red", "green", "blue"), seed=1)
    assert train_run(source_data, "source") == 0
    assert train_run(target_data, "tuned", "--pretrained", str(tmp_path / "source"),
                     "--freeze", "2", "optim.lr=0.5") == 0
    before = load_checkpoint(tmp_path / "source" / "last.pt")["model"]
    after = load_checkpoint(tmp_path / "tuned" / "last.pt")
    assert after["classes"] == ["blue", "green", "red"]
    assert after["model"]["fc.weight"].shape == (3, 64)
    frozen = [k for k in before if k.startswith(("conv1.", "bn1.", "layer1.", "layer2."))]
    assert any(k.endswith("running_mean") for k in frozen)
    assert all(after["model"][k].equal(before[k]) for k in frozen)  # BN statistics included
    assert not after["model"]["layer3.0.conv1.weight"].equal(before["layer3.0.conv1.weight"])
    assert not after["model"]["layer3.0.bn1.running_mean"].equal(
        before["layer3.0.bn1.running_mean"])
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["model"]["freeze_stages"] == 2
    capsys.readouterr()
    assert train_run(target_data, "wrong", "--pretrained", str(tmp_path / "source"),
                     model="resnet32") == 2
    assert "trained resnet20, not resnet32" in capsys.readouterr().err


def test_backbone_lr_scale_reaches_the_engine(image_folder, train_run, tmp_path):
    """optim.backbone_lr_scale=0 trains the new head only; the backbone stays as loaded."""
    data = image_folder(("red", "blue"))
    assert train_run(data, "source") == 0
    assert train_run(data, "head-only", "--pretrained", str(tmp_path / "source"),
                     "optim.backbone_lr_scale=0", "optim.weight_decay=0") == 0
    before = load_checkpoint(tmp_path / "source" / "last.pt")["model"]
    after = load_checkpoint(tmp_path / "head-only" / "last.pt")["model"]
    weights = [k for k in before if k.endswith("weight") and not k.startswith("fc.")]
    assert weights and all(after[k].equal(before[k]) for k in weights)
    assert not after["fc.weight"].equal(before["fc.weight"])


def test_resume_does_not_reload_the_pretrained_source(image_folder, train_run, tmp_path):
    data = image_folder(("red", "blue"))
    assert train_run(data, "source") == 0
    assert train_run(data, "tuned", "--pretrained", str(tmp_path / "source")) == 0
    shutil.rmtree(tmp_path / "source")  # the source may go away once the run has started
    cfg = load_run_config(tmp_path / "tuned")
    summary = train(apply_overrides(cfg, {"iterations": "4"}), resume_dir=tmp_path / "tuned")
    assert summary["steps"] == 4
