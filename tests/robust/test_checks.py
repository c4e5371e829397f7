"""The gradient-masking checks on a small trained model (they pass) and on the same model
behind a quantiser whose gradient is zero everywhere (they catch it)."""

import pytest
import torch
from torch import nn

from resnets.data import load_digits
from resnets.robust import ensemble_warnings, format_checks, gradient_masking_checks

EPS = 0.1  # the 8x8 digits have 17 grey levels: 0.1 is under two of them


@pytest.fixture(scope="module")
def digits_mlp():
    """A two-layer perceptron trained on the 8x8 digits (~97% test accuracy), in eval mode."""
    torch.manual_seed(0)
    train, test = load_digits("train"), load_digits("test")
    x = train.images.float().div(255)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), train.labels).backward()
        opt.step()
    pixels, labels = test.images[:96].float().div(255), test.labels[:96]
    return model.eval(), pixels, labels


class Quantised(nn.Module):
    """Rounds the input to 4 grey levels first: the gradient with respect to it is zero."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(torch.round(x * 3) / 3)


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_plainly_trained_model_passes_every_check(digits_mlp):
    model, pixels, labels = digits_mlp
    assert (model(pixels).argmax(1) == labels).float().mean() > 0.9
    checks = gradient_masking_checks(model, pixels, labels, EPS, steps=10, queries=200)
    assert len(checks) == 5 and all(c.passed for c in checks), format_checks(checks)
    falls = by_name(checks)["robust accuracy falls to zero as eps grows"]
    assert falls.detail.endswith("1: 0.0%")  # the unbounded L-inf ball


def test_l2_checks_pass_and_skip_the_square_attack(digits_mlp):
    model, pixels, labels = digits_mlp
    checks = gradient_masking_checks(model, pixels, labels, 1.0, norm="l2", steps=10)
    assert len(checks) == 4 and all(c.passed for c in checks), format_checks(checks)


def test_a_gradient_masking_model_fails_the_checks(digits_mlp):
    model, pixels, labels = digits_mlp
    masked = Quantised(model).eval()
    checks = by_name(gradient_masking_checks(masked, pixels, labels, 0.2, steps=10,
                                             queries=200))
    assert not checks["the PGD loss rises across iterations"].passed
    assert not checks["robust accuracy falls to zero as eps grows"].passed
    assert not checks["the gradient-free square attack is no stronger than PGD"].passed
    text = format_checks(list(checks.values()))
    assert text.count("FAIL") >= 3 and "PASS  more PGD steps" in text


def test_ensemble_warnings_name_the_masking_signs():
    report = {"robust_accuracy": {"fgsm": 0.3, "pgd": 0.5, "square": 0.2}}
    warnings = ensemble_warnings(report)
    assert len(warnings) == 2
    assert "square attack beats PGD" in warnings[0] and "FGSM step beats PGD" in warnings[1]
    assert ensemble_warnings({"robust_accuracy": {"fgsm": 0.6, "pgd": 0.5,
                                                  "square": 0.55}}) == []
