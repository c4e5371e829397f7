"""Attacks on models whose worst case is known in closed form.

For a two-class linear model f(x) = W x + b, the cross-entropy gradient of class y points
along w_o - w_y (o: the other class), so FGSM's perturbation is eps * sign(w_o - w_y), the
best L2 perturbation is eps * (w_o - w_y) / ||w_o - w_y||_2, and an image is robust exactly
when its margin exceeds eps * ||w_o - w_y||_1 (L-inf) or eps * ||w_o - w_y||_2 (L2).
"""

import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.robust import (AttackSettings, PixelSpace, build_attacks, fgsm, margin, pgd,
                            pgd_loss_trace, robust_accuracy, square_attack, to_pixels)
from resnets.train.attacks import project, random_start, square_side

SHAPE = (1, 4, 4)  # one channel, 4 x 4 pixels
D = 16


def linear_model(seed: int = 0) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(D, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(2, D, generator=gen))
        layer.bias.copy_(-0.5 * layer.weight.sum(1))  # mid grey sits on the boundary
    return nn.Sequential(nn.Flatten(), layer).eval()


def direction(model: nn.Sequential, labels: torch.Tensor) -> torch.Tensor:
    """w_other - w_label for each image, shaped like the images."""
    w = model[1].weight.detach()
    return (w[1 - labels] - w[labels]).view(-1, *SHAPE)


def mid_grey(n: int) -> torch.Tensor:
    return torch.full((n, *SHAPE), 0.5)


def near_grey(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0.4, 0.6] (no eps here reaches the clamp) and random labels."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.4 + 0.2 * torch.rand(n, *SHAPE, generator=gen)
    return x, (torch.rand(n, generator=gen) < 0.5).long()


def test_fgsm_perturbation_is_eps_times_the_gradient_sign():
    model, labels = linear_model(), torch.tensor([0, 1, 0])
    x, eps = mid_grey(3), 0.03
    adv = fgsm(model, x, labels, eps)
    torch.testing.assert_close(adv - x, eps * direction(model, labels).sign(), atol=1e-7,
                               rtol=0)


def test_fgsm_stays_in_the_unit_cube():
    model, labels = linear_model(), torch.tensor([0, 1])
    x = torch.zeros(2, *SHAPE)  # black: half the pixels want to go below 0
    adv = fgsm(model, x, labels, 0.1)
    expected = (0.1 * direction(model, labels).sign()).clamp(min=0)
    torch.testing.assert_close(adv, expected)


def test_linf_pgd_of_a_linear_model_ends_at_the_optimal_corner():
    model, labels = linear_model(), torch.tensor([0, 1])
    x, eps = mid_grey(2), 0.05
    for random_init in (False, True):
        adv = pgd(model, x, labels, eps, steps=7, random_init=random_init, keep_best=False,
                  generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(adv - x, eps * direction(model, labels).sign(), atol=1e-7,
                                   rtol=0)


def test_l2_pgd_of_a_linear_model_ends_at_eps_along_the_weight_difference():
    model, labels = linear_model(), torch.tensor([1, 0])
    x, eps = mid_grey(2), 0.2
    adv = pgd(model, x, labels, eps, step_size=0.1, steps=5, norm="l2", random_init=False,
              keep_best=False)
    d = direction(model, labels)
    expected = eps * d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    torch.testing.assert_close(adv - x, expected, atol=1e-6, rtol=0)


def test_projection_onto_the_balls():
    delta = torch.tensor([3.0, -4.0, 0.5, 0.0]).view(1, 1, 2, 2)
    assert project(delta, 1.0, "linf").flatten().tolist() == [1.0, -1.0, 0.5, 0.0]
    l2 = project(delta, 1.0, "l2")  # norm 5.0249 -> 1
    torch.testing.assert_close(l2, delta / delta.norm())
    small = torch.tensor([0.3, 0.4, 0.0, 0.0]).view(1, 1, 2, 2)  # norm 0.5: inside, kept
    torch.testing.assert_close(project(small, 1.0, "l2"), small)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_starts_lie_in_the_ball_and_the_cube(norm):
    x = torch.rand(64, *SHAPE, generator=torch.Generator().manual_seed(0))
    start = random_start(x, 0.1, norm, torch.Generator().manual_seed(1))
    delta = (start - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert size.max() <= 0.1 + 1e-6 and size.min() > 0
    assert start.min() >= 0 and start.max() <= 1


def robust_by_hand(model, x, labels, eps, norm, band=0.0):
    """Whether each image survives the optimal attack on a linear model, and whether its
    margin is further than ``band`` (a fraction) from the optimal attack's threshold."""
    m = margin(model(x).detach(), labels)
    d = direction(model, labels).flatten(1)
    threshold = eps * (d.abs().sum(1) if norm == "linf" else d.norm(dim=1))
    return m > threshold, (m - threshold).abs() > band * threshold


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_robust_accuracy_of_a_linear_model_matches_the_closed_form(norm):
    model = linear_model(1)
    x, labels = near_grey(300, 2)
    eps = 0.01 if norm == "linf" else 0.04
    robust, clear = robust_by_hand(model, x, labels, eps, norm, band=0.01)
    x, labels, robust = x[clear], labels[clear], robust[clear]
    expected = robust.float().mean().item()
    clean = (model(x).argmax(1) == labels).float().mean().item()
    assert 0.1 < expected < clean - 0.1  # the attack matters, and some images survive it
    # L2: PGD turns from its random start towards the optimum, so give it room to turn.
    step = 0.0 if norm == "linf" else eps
    settings = AttackSettings(eps=eps, norm=norm, steps=5 if norm == "linf" else 20,
                              step_size=step)
    attacks = build_attacks(["fgsm", "pgd"], settings, torch.device("cpu"))
    report = robust_accuracy(model, [(x[:128], labels[:128]), (x[128:], labels[128:])],
                             attacks, norm)
    assert report["images"] == len(x) > 250
    assert report["clean_accuracy"] == pytest.approx(clean)
    assert report["robust_accuracy"]["pgd"] == pytest.approx(expected)
    assert report["worst_case_accuracy"] == pytest.approx(expected)
    if norm == "linf":  # for a linear model one sign step is already optimal
        assert report["robust_accuracy"]["fgsm"] == pytest.approx(expected)
    assert max(report["largest_perturbation"].values()) <= eps + 1e-6


def test_square_attack_finds_the_closed_form_answer_without_gradients():
    model = linear_model(4)
    x, labels = near_grey(300, 5)
    eps = 0.01
    correct = model(x).argmax(1) == labels
    # Leave out the images within 20% of the optimal attack's threshold: random search
    # needs many queries to reach the exact corner.
    robust, clear = robust_by_hand(model, x, labels, eps, "linf", band=0.2)
    x, labels, robust = x[clear & correct], labels[clear & correct], robust[clear & correct]
    adv = square_attack(model, x, labels, eps, queries=300,
                        generator=torch.Generator().manual_seed(6))
    held = model(adv).argmax(1) == labels
    assert (adv - x).abs().max() <= eps + 1e-6
    assert robust.sum() > 10 and (~robust).sum() > 10
    assert torch.equal(held, robust)


def test_square_window_shrinks_on_the_papers_schedule():
    # 32 x 32 images, p = 0.8: side round(sqrt(0.8 * 1024)) = 29; p halves after 10 of 10,000.
    assert square_side(0, 10000, 0.8, 32, 32) == 29
    assert square_side(11, 10000, 0.8, 32, 32) == 20  # sqrt(0.4 * 1024) = 20.2
    assert square_side(9000, 10000, 0.8, 32, 32) == 1  # p / 512
    assert square_side(1, 1000, 0.8, 32, 32) == 29  # rescaled: query 1 of 1000 is 10 of 10k
    assert square_side(2, 1000, 0.8, 32, 32) == 20  # and query 2 is 20 of 10k
    assert square_side(0, 100, 0.8, 4, 4) == 3  # never the whole image


def test_more_restarts_never_weaken_pgd_and_keep_the_worst_case():
    torch.manual_seed(7)  # a small nonlinear model: where the attack ends depends on the start
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    x = torch.rand(50, *SHAPE, generator=torch.Generator().manual_seed(8))
    labels = torch.zeros(50, dtype=torch.long)

    def loss_after(restarts):
        # A short step from a random start: where PGD ends depends mostly on the start.
        adv = pgd(model, x, labels, 0.5, step_size=0.05, steps=1, norm="l2",
                  restarts=restarts, generator=torch.Generator().manual_seed(9))
        return nn.functional.cross_entropy(model(adv), labels, reduction="none").detach()

    one, three = loss_after(1), loss_after(3)
    assert torch.all(three >= one - 1e-6) and torch.any(three > one + 1e-4)


def test_pgd_loss_trace_starts_at_the_clean_loss_and_rises():
    model, labels = linear_model(), torch.tensor([0, 1, 1, 0])
    x = mid_grey(4)
    trace = pgd_loss_trace(model, x, labels, 0.05, step_size=0.01, steps=5, random_init=False)
    clean = nn.functional.cross_entropy(model(x), labels).item()
    assert len(trace) == 6 and trace[0] == pytest.approx(clean)
    assert all(b > a for a, b in zip(trace, trace[1:]))  # a linear model: every step helps


def test_pixel_space_undoes_the_loaders_normalisation():
    mean, std = [0.2, 0.5, 0.7], [0.1, 0.3, 0.25]
    pixels = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    normalised = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)
    torch.testing.assert_close(to_pixels(normalised, mean, std), pixels)
    seen = []
    model = PixelSpace(lambda z: seen.append(z) or z.sum((2, 3)), mean, std)
    model(pixels)
    torch.testing.assert_close(seen[0], normalised)


def test_bad_budgets_are_refused():
    model, labels, x = linear_model(), torch.tensor([0]), mid_grey(1)
    with pytest.raises(ResnetsError, match="restarts without a random start"):
        pgd(model, x, labels, 0.1, random_init=False, restarts=2)
    with pytest.raises(ResnetsError, match="unknown norm 'l3'"):
        pgd(model, x, labels, 0.1, norm="l3")
    with pytest.raises(ResnetsError, match="eps >= 0"):
        fgsm(model, x, labels, -0.1)
    with pytest.raises(ResnetsError, match="square attack here is the L-inf one"):
        build_attacks(["square"], AttackSettings(eps=0.1, norm="l2"), torch.device("cpu"))
    with pytest.raises(ResnetsError, match="unknown attack 'pdg'.*did you mean 'pgd'"):
        build_attacks(["pdg"], AttackSettings(eps=0.1), torch.device("cpu"))
