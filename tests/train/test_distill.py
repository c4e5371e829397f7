"""Knowledge distillation (distill.*): the loss, the teacher, resuming, torchrun, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from launching import max_difference, torchrun
from resnets.cli import main
from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.train.distill import (attention_map, attention_transfer_loss, distillation_loss,
                                    load_teacher)
from resnets.train.engine import train
from resnets.train.objectives import build_objective
from test_distributed import ARGS, SETTINGS, config, weights
from test_engine import straight_and_resumed, tiny_config


def test_at_temperature_1_and_weight_0_it_is_the_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(8, 5, generator=gen), torch.randn(8, 5, generator=gen)
    labels = torch.randint(0, 5, (8,), generator=gen)
    assert torch.equal(distillation_loss(student, teacher, labels, 1.0, 0.0),
                       F.cross_entropy(student, labels))


def test_it_equals_the_value_computed_by_hand():
    # One sample, two classes. T=2: the student's soft outputs are softmax(0, 1) and the
    # teacher's softmax(1, 0); w=0.25.
    student, teacher, labels = torch.tensor([[0.0, 2.0]]), torch.tensor([[2.0, 0.0]]), \
        torch.tensor([0])
    hard = -math.log(math.exp(0) / (math.exp(0) + math.exp(2)))  # CE of class 0
    p_t = [math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)]
    p_s = [1 / (1 + math.exp(1)), math.exp(1) / (1 + math.exp(1))]
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s))
    expected = 0.75 * hard + 0.25 * 4 * kl
    got = distillation_loss(student, teacher, labels, temperature=2.0, weight=0.25)
    assert got.item() == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    train(tiny_config(out, run_name="teacher", epochs=1))
    return out / "teacher"


def test_the_objective_adds_the_frozen_teachers_soft_targets(teacher, tmp_path):
    cfg = tiny_config(tmp_path, **{"distill.teacher": teacher, "distill.temperature": 3,
                                   "distill.weight": 0.6, "channels_last": "false"})
    from resnets.train.pipeline import build_pipeline

    data = build_pipeline(cfg, torch.device("cpu"))
    model = load_teacher(str(teacher), data.classes, data.in_chans)
    assert not model.model.training and not any(p.requires_grad for p in model.parameters())
    objective = build_objective(cfg, data.mean, data.std, len(data.classes), model)
    images, labels = next(iter(data.train))
    student = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(len(data.classes)))
    loss, logits = objective(student, images, labels)
    with torch.no_grad():
        expected = distillation_loss(logits, model.model(images), labels, 3.0, 0.6)
    assert torch.equal(loss.detach(), expected)
    loss.backward()  # the teacher gets no gradient
    assert all(p.grad is None for p in model.parameters())


def test_a_distilled_run_resumes_bitwise_identical(teacher, tmp_path):
    straight_and_resumed(tmp_path, epochs=2, **{"distill.teacher": teacher,
                                                "distill.weight": 0.7, "distill.attention": 100})


def test_the_attention_map_is_the_normalised_channel_mean_of_squares():
    # Two channels at two positions: (1, 0) and (1, 2); the mean squares are (1, 2).
    features = torch.tensor([[[[1.0, 0.0]], [[1.0, 2.0]]]])
    expected = torch.tensor([[1.0, 2.0]]) / math.sqrt(5)
    torch.testing.assert_close(attention_map(features), expected)
    # Pooled 2x2 -> 1x1: one position, whose normalised map is 1 whatever the values.
    assert attention_map(torch.randn(3, 4, 2, 2), size=(1, 1)).tolist() == [[1.0]] * 3


def test_attention_transfer_is_half_beta_times_the_mean_squared_map_difference():
    gen = torch.Generator().manual_seed(0)
    student = [torch.randn(2, 4, 4, 4, generator=gen), torch.randn(2, 8, 2, 2, generator=gen)]
    teacher = [torch.randn(2, 16, 2, 2, generator=gen), torch.randn(2, 32, 2, 2, generator=gen)]
    assert attention_transfer_loss(teacher, teacher, 1000.0).item() == 0.0
    # The 4x4 student map is averaged over 2x2 blocks to meet the teacher's 2x2.
    energy = student[0].pow(2).mean(1)
    pooled = energy.view(2, 2, 2, 2, 2).mean(dim=(2, 4)).flatten(1)
    first = (F.normalize(pooled, dim=1) - attention_map(teacher[0])).pow(2).mean()
    second = (attention_map(student[1]) - attention_map(teacher[1])).pow(2).mean()
    got = attention_transfer_loss(student, teacher, 10.0)
    assert got.item() == pytest.approx(5.0 * (first + second).item(), rel=1e-5)


def test_the_objective_pulls_the_students_stage_maps_to_the_teachers(teacher, tmp_path):
    cfg = tiny_config(tmp_path, **{"distill.teacher": teacher, "distill.attention": 50,
                                   "channels_last": "false"})
    from resnets.train.pipeline import build_pipeline

    data = build_pipeline(cfg, torch.device("cpu"))
    model = load_teacher(str(teacher), data.classes, data.in_chans)
    with_maps = build_objective(cfg, data.mean, data.std, len(data.classes), model)
    plain = build_objective(tiny_config(tmp_path, **{"distill.teacher": teacher,
                                                     "channels_last": "false"}),
                            data.mean, data.std, len(data.classes), model)
    images, labels = next(iter(data.train))
    torch.manual_seed(0)
    student = create_model(cfg.model.name, num_classes=len(data.classes)).eval()
    loss, logits = with_maps(student, images, labels)
    base, _ = plain(student, images, labels)
    with torch.no_grad():
        _, s_maps = student.forward_intermediates(images, indices=[1, 2, 3])
        _, t_maps = model.model.forward_intermediates(images, indices=[1, 2, 3])
    expected = attention_transfer_loss(s_maps, t_maps, 50.0)
    assert expected.item() > 0
    assert (loss - base).item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in model.parameters())


def test_two_processes_distill_as_one(teacher, tmp_path):
    extra = [f"distill.teacher={teacher}", "distill.weight=0.5"]
    train(config(tmp_path / "one", "run", *extra, epochs=1))
    proc = torchrun(2, "-m", "resnets.cli", "train", *ARGS[:-1], "1", *SETTINGS, *extra,
                    "--out", str(tmp_path / "two"), "--name", "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert max_difference(weights(tmp_path / "one" / "run"),
                          weights(tmp_path / "two" / "run")) < 1e-5


@pytest.mark.parametrize("settings, message", [
    (["distill.teacher={tmp}/nowhere"], "not a trained run directory"),
    (["distill.teacher={teacher}", "data.mixup_alpha=0.2"], "mixup"),
    (["distill.teacher={teacher}", "distill.temperature=0"], "distill.temperature"),
    (["distill.teacher={teacher}", "distill.weight=1.5"], "distill.weight"),
    (["distill.teacher={teacher}", "data.dataset=digits"], "other classes"),
    (["distill.attention=1000"], "distill.attention transfers a teacher's"),
])
def test_bad_distillation_settings_stop_in_one_line(teacher, tmp_path, capsys, settings,
                                                    message):
    given = [s.format(tmp=tmp_path, teacher=teacher) for s in settings]
    code = main(["train", "--recipe", "synthetic-smoke", "--device", "cpu", "--epochs", "1",
                 "data.synthetic_size=48", "--out", str(tmp_path), "--name", "bad", *given])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad" / "last.pt").exists()


def test_a_teacher_of_other_classes_is_refused_before_training(teacher, tmp_path):
    with pytest.raises(ResnetsError, match="other classes"):
        load_teacher(str(teacher), ["a", "b"], 3)


def test_network_slimming_adds_the_l1_norm_of_the_bn_scales():
    cfg = tiny_config("unused", **{"model.bn_l1": 0.01})
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4),
                              torch.nn.Flatten(), torch.nn.LazyLinear(3))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([1.0, -2.0, 0.5, 0.0]))
    images, labels = torch.randn(2, 3, 2, 2), torch.tensor([0, 2])
    loss, logits = build_objective(cfg, [0.0], [1.0], 3)(net, images, labels)
    plain = F.cross_entropy(logits, labels)
    assert loss.item() == pytest.approx(plain.item() + 0.01 * 3.5, rel=1e-6)


def test_widths_that_do_not_fit_stop_before_the_data_is_read(tmp_path, capsys):
    code = main(["train", "--recipe", "synthetic-smoke", "--device", "cpu",
                 "model.branch_widths=4,4", "--out", str(tmp_path), "--name", "w"])
    err = capsys.readouterr().err
    assert code == 2 and "branch_widths has 2 entries" in err, err
    assert not (tmp_path / "w").exists()


def test_the_teacher_reads_images_normalised_as_in_its_own_run(teacher):
    model = load_teacher(str(teacher), *_classes_and_chans(teacher))
    pixels = torch.rand(2, 3, 8, 8)
    own = (pixels - torch.tensor(model.mean).view(1, -1, 1, 1)) / torch.tensor(
        model.std).view(1, -1, 1, 1)
    mean, std = [0.2, 0.3, 0.4], [0.5, 0.6, 0.7]
    student = (pixels - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(student, mean, std), model.model(own))


def _classes_and_chans(run):
    state = torch.load(run / "last.pt", weights_only=True)
    return state["classes"], state["in_chans"]
