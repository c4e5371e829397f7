"""Test-time flip averaging (data.eval_flip): each image's softmax averaged with its mirror's."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnets.errors import ResnetsError
from resnets.train.config import TrainConfig, apply_overrides, check_settings
from resnets.train.engine import train
from resnets.train.evaluate import evaluate
from resnets.train.inference import evaluate_checkpoint, load_trained
from resnets.train.pipeline import build_pipeline
from resnets.train.recipes import recipe_config

CPU = torch.device("cpu")


def _asymmetric_model() -> nn.Module:
    """A net whose output changes when its input is mirrored (a conv, no pooling)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def _batches():
    torch.manual_seed(1)
    return [(torch.randn(6, 3, 8, 8), torch.randint(0, 5, (6,))) for _ in range(2)]


def test_flip_scores_the_mean_softmax_of_each_image_and_its_mirror():
    model, batches = _asymmetric_model(), _batches()
    with torch.no_grad():
        images = torch.cat([b[0] for b in batches])
        labels = torch.cat([b[1] for b in batches])
        probs = (model(images).softmax(1) + model(images.flip(-1)).softmax(1)) / 2
    flipped = evaluate(model, batches, 5, CPU, flip=True)
    assert flipped["loss"] == pytest.approx(F.nll_loss(probs.log(), labels).item(), rel=1e-5)
    assert flipped["top1_error"] == pytest.approx(
        1 - (probs.argmax(1) == labels).float().mean().item())
    assert flipped["confusion"].sum() == len(labels)
    plain = evaluate(model, batches, 5, CPU)
    assert abs(plain["loss"] - flipped["loss"]) > 1e-4  # the mirror did change the score


def test_flip_of_ten_crops_averages_all_twenty_views():
    model = _asymmetric_model()
    torch.manual_seed(2)
    crops, labels = torch.randn(3, 10, 3, 8, 8), torch.tensor([0, 1, 2])
    with torch.no_grad():
        views = torch.cat([crops, crops.flip(-1)], 1).flatten(0, 1)
        probs = model(views).softmax(1).view(3, 20, 5).mean(1)
    result = evaluate(model, [(crops, labels)], 5, CPU, ten_crop=True, flip=True)
    assert result["loss"] == pytest.approx(F.nll_loss(probs.log(), labels).item(), rel=1e-5)


def _tiny(tmp_path, **extra):
    return recipe_config("synthetic-smoke", {
        "epochs": "1", "device": "cpu", "data.synthetic_size": "32", "batch_size": "16",
        "out_dir": str(tmp_path), "run_name": "flip", **extra})


def test_a_run_with_eval_flip_reports_and_reevaluates_the_flipped_score(tmp_path):
    train(_tiny(tmp_path, **{"data.eval_flip": "true"}))
    run = tmp_path / "flip"
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    model, _, cfg = load_trained(run / "last.pt", CPU)
    test = build_pipeline(cfg, CPU).test
    flipped = evaluate(model, test, 10, CPU, flip=True)["loss"]
    assert row["test_loss"] == pytest.approx(flipped, rel=1e-5)
    assert abs(row["test_loss"] - evaluate(model, test, 10, CPU)["loss"]) > 1e-6
    report = evaluate_checkpoint(run / "last.pt")
    assert report["eval_flip"] is True
    assert report["loss"] == pytest.approx(flipped, rel=1e-5)


def test_eval_flip_is_refused_for_data_without_images():
    cfg = apply_overrides(TrainConfig(), {"data.eval_flip": "true", "data.dataset": "text",
                                          "model.name": "vdcnn9"})
    with pytest.raises(ResnetsError, match="data.eval_flip mirrors images, and text data"):
        check_settings(cfg)
