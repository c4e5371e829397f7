"""The residual GAN: its networks, hinge loss, Frechet distance and classifier scores, and
`resnets gan train|sample` on the engine (resume bit for bit, torchrun, --print-config)."""

import json

import pytest
import scipy.linalg
import torch
from PIL import Image
from torch.nn.utils import parametrize

from dense_training import (assert_print_config_round_trips, assert_resumes_bit_for_bit,
                            rows, two_processes)
from resnets.cli import main
from resnets.gan.task import GanData, score_samples
from resnets.models import create_model
from resnets.models.gan import (ConditionalBatchNorm2d, DownBlock, ResNetDiscriminator,
                                ResNetGenerator, UpBlock, hinge_d_loss, hinge_g_loss)
from resnets.train.image_metrics import (FeatureClassifier, classifier_score,
                                         frechet_distance, gaussian)

# 8x8 digits, 8 channels; 2 discriminator steps of 16 images per generator step.
SETTINGS = ["--steps", "5", "--batch-size", "16", "--n-dis", "2", "--device", "cpu",
            "gan.image_size=8", "gan.bottom=2", "gan.g_channels=8", "gan.d_channels=8",
            "gan.z_dim=8", "eval.samples=40", "eval.grid_columns=2", "deterministic=true",
            "checkpoint_every=1"]


@pytest.mark.parametrize("residual", [True, False])
def test_generator_and_discriminator_shapes(residual):
    torch.manual_seed(0)
    g = ResNetGenerator(16, 1, z_dim=8, channels=8, classes=10, residual=residual)
    d = ResNetDiscriminator(16, 1, channels=8, classes=10, residual=residual)
    labels = torch.arange(4)
    images = g(torch.randn(4, 8), labels)
    assert images.shape == (4, 1, 16, 16) and images.abs().max() <= 1
    assert d(images, labels).shape == (4,)
    assert len(g.blocks) == 2  # 4 -> 8 -> 16
    shortcuts = [m.shortcut for m in g.modules() if isinstance(m, UpBlock)]
    shortcuts += [m.shortcut for m in d.modules() if isinstance(m, DownBlock)
                  and (m.down or not residual)]
    assert all((s is not None) == residual for s in shortcuts)


def test_hinge_losses_by_hand():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # mean(max(0, 1 - [2, .5])) + mean(max(0, 1 + [-2, 0])) = 0.25 + 0.5
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.75)
    assert hinge_g_loss(fake).item() == pytest.approx(1.0)


def test_every_weight_of_the_discriminator_is_spectrally_normalised():
    torch.manual_seed(0)
    d = ResNetDiscriminator(8, 1, channels=8, classes=3)
    layers = [m for m in d.modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert len(layers) == 2 * 3 + 1 + 2  # 3 blocks of 2 convs, 1 shortcut, linear, embedding
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    for _ in range(30):  # power iterations run in training forwards
        d(torch.randn(2, 1, 8, 8), torch.tensor([0, 1]))
    assert torch.linalg.matrix_norm(d.linear.weight, 2).item() == pytest.approx(1, abs=1e-3)


def test_conditional_batch_norm_has_a_scale_and_shift_per_class():
    norm = ConditionalBatchNorm2d(4, classes=3)
    assert norm.scale.weight.shape == (3, 4) and norm.shift.weight.shape == (3, 4)
    assert not norm.norm.affine
    with torch.no_grad():
        norm.scale.weight[1] = 2.0
        norm.shift.weight[2] = 5.0
    x = torch.randn(6, 4, 3, 3)
    base = norm.norm(x)  # what class 0 (scale 1, shift 0) gives
    out = norm(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert torch.allclose(out[0], base[0]) and torch.allclose(out[1], 2 * base[1])
    assert torch.allclose(out[2], base[2] + 5)


def test_frechet_distance_of_a_gaussian_to_itself_and_two_closed_forms():
    torch.manual_seed(0)
    x = torch.randn(500, 6) @ torch.randn(6, 6)
    mu, cov = gaussian(x)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0, abs=1e-6)
    # diagonal covariances: |dmu|^2 + sum (a + b - 2 sqrt(ab))
    a, b = torch.tensor([1.0, 4.0]), torch.tensor([9.0, 1.0])
    expected = 1 + 4 + (1 + 9 - 6) + (4 + 1 - 4)
    assert frechet_distance(torch.zeros(2), torch.diag(a), torch.tensor([1.0, 2.0]),
                            torch.diag(b)) == pytest.approx(expected)
    # covariances that do not commute, against scipy's matrix square root
    s1, s2 = (m @ m.T + torch.eye(4) for m in torch.randn(2, 4, 4).double())
    m1, m2 = torch.randn(2, 4).double()
    root = scipy.linalg.sqrtm((s1 @ s2).numpy()).real
    reference = float((m1 - m2).square().sum() + s1.trace() + s2.trace()
                      - 2 * root.trace())
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(reference, rel=1e-6)


def test_classifier_score_bounds():
    assert classifier_score(torch.eye(5)) == pytest.approx(5)  # confident, all classes
    assert classifier_score(torch.full((7, 5), 0.2)) == pytest.approx(1)


def test_real_images_scored_as_samples_match_the_real_reference():
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=3, in_chans=1).eval()
    classifier = FeatureClassifier(model, [0.5], [0.25], 8, ["a", "b", "c"])
    images = torch.rand(60, 1, 8, 8)
    labels = torch.arange(60) % 3
    data = GanData(None, real_test=images[:30], real_train=images[30:], classes=["a", "b", "c"])
    scores = score_samples(classifier, images[:30], labels[:30], data)
    assert scores["fd"] == pytest.approx(scores["fd_real"])
    hits = model((images[:30] - 0.5) / 0.25).argmax(1) == labels[:30]
    assert scores["class_accuracy"] == pytest.approx(hits.float().mean().item())
    assert scores["class_accuracy/b"] == pytest.approx(hits[1::3].float().mean().item())


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["gan", "train", *SETTINGS, "--out-dir", str(runs), "--run-name", "whole"]) == 0
    return runs / "whole"


def test_an_interrupted_run_resumes_to_the_same_weights(finished, tmp_path, capsys,
                                                        monkeypatch):
    assert_resumes_bit_for_bit(["gan", "train", *SETTINGS], finished, tmp_path, monkeypatch,
                               capsys, step=3)
    a = torch.load(finished / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut/last.pt", weights_only=True)
    for key in ("optimizer", "optimizers", "ema"):  # both optimisers and the EMA
        assert json.dumps(a[key], default=str) == json.dumps(b[key], default=str), key
    assert a["optimizers"]["discriminator"]["optimizer"]["state"]  # it did step
    row = rows(finished)[-1]
    assert {"g_loss", "d_loss", "d_real", "d_fake"} <= set(row)


def test_each_evaluation_writes_a_grid_and_sample_writes_one(finished, tmp_path, capsys):
    with Image.open(finished / "samples" / "step_000005.png") as grid:
        assert grid.size == (2 * (2 * 9 + 1), 2 * (10 * 9 + 1))  # 2 columns, 10 classes
    out = tmp_path / "grid.png"
    assert main(["gan", "sample", str(finished), "--out", str(out), "--columns", "3",
                 "--device", "cpu"]) == 0
    with Image.open(out) as grid:
        assert grid.size == (2 * (3 * 9 + 1), 2 * (10 * 9 + 1))
    assert main(["gan", "sample", str(tmp_path), "--out", str(out)]) == 2
    assert "no checkpoint of `resnets gan train`" in capsys.readouterr().err


def test_printed_config_fed_back_gives_the_same_config(tmp_path, capsys):
    assert_print_config_round_trips(["gan", "train", *SETTINGS, "--steps", "1"], tmp_path,
                                    capsys)


def test_two_processes_train_with_a_share_each(tmp_path):
    two = two_processes(["gan", "train", *SETTINGS, "--steps", "2"], tmp_path)
    assert [row["step"] for row in rows(two)] == [2]


def test_a_classifier_of_this_project_scores_every_evaluation(tmp_path):
    assert main(["train", "--recipe", "digits-resnet20", "iterations=2", "eval_batch_size=512",
                 "device=cpu", f"out_dir={tmp_path}", "run_name=judge"]) == 0
    assert main(["gan", "train", *SETTINGS, "--steps", "1", "--classifier",
                 str(tmp_path / "judge"), "--out-dir", str(tmp_path), "--run-name", "g"]) == 0
    summary = json.loads((tmp_path / "g" / "summary.json").read_text())
    assert summary["fd"] > summary["fd_real"] >= 0  # one step of G is far from the digits
    assert 0 <= summary["class_accuracy"] <= 1 and "class_accuracy/9" in summary
    assert 1 <= summary["classifier_score"] <= 10
