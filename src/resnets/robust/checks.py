"""Sanity checks that catch gradient masking (Athalye, Carlini & Wagner 2018; Carlini et al.
2019, "On Evaluating Adversarial Robustness", Sec. 5).

A defence that only hides its gradients looks robust to gradient attacks without being so.
Four symptoms give it away, and each is a check here:

1. robust accuracy must fall to zero as eps grows (an unbounded L-inf attack can paint any
   image), and must not rise with eps;
2. more PGD steps must never raise robust accuracy (same starts; best iterate kept);
3. the PGD loss must rise across its iterations;
4. a gradient-free attack (the square attack) must not beat PGD, nor one FGSM step beat many
   PGD steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..train.attacks import default_step_size, fgsm, pgd, pgd_loss_trace, square_attack

EPS_SCALES = (0.0, 0.5, 1.0, 2.0, 4.0)  # multiples of the eps under test


@dataclass(frozen=True)
class Check:
    name: str  # what is checked
    passed: bool  # False: a symptom of gradient masking (or of a broken attack)
    detail: str  # the measured numbers


def _accuracy(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(pixels).argmax(1) == labels).float().mean().item()


def _unbounded_eps(pixels: torch.Tensor, norm: str) -> float:
    """A radius that reaches every image: 1 (L-inf), the cube's diagonal (L2)."""
    return 1.0 if norm == "linf" else float(pixels[0].numel()) ** 0.5


def gradient_masking_checks(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor,
                            eps: float, norm: str = "linf", steps: int = 10,
                            queries: int = 500, seed: int = 0, slack: float = 0.0,
                            eps_scales: Sequence[float] = EPS_SCALES,
                            step_counts: Sequence[int] | None = None) -> list[Check]:
    """Run the four checks on one batch (pixels in [0, 1]) of a pixel-space ``model``.

    ``slack`` is the accuracy (a fraction) by which a curve may go the wrong way before a
    check fails; 0 demands exact monotonicity. ``step_counts`` defaults to 1, steps / 2,
    steps and 2 steps. The model is put in eval mode.
    """
    if step_counts is None:
        step_counts = sorted({1, max(1, steps // 2), steps, 2 * steps})
    was_training = model.training
    model.eval()
    device = pixels.device

    def gen() -> torch.Generator:  # every attack starts from the same random points
        return torch.Generator(device).manual_seed(seed)

    def pgd_accuracy(radius: float, n_steps: int, step_size: float) -> float:
        if radius == 0:
            return _accuracy(model, pixels, labels)
        adv = pgd(model, pixels, labels, radius, step_size, n_steps, norm, generator=gen())
        return _accuracy(model, adv, labels)

    radii = [eps * s for s in eps_scales] + [_unbounded_eps(pixels, norm)]
    by_eps = [pgd_accuracy(r, steps, default_step_size(r, steps)) for r in radii]
    # One step size for every count: a shorter run is then a prefix of a longer one.
    step_size = default_step_size(eps, steps)
    by_steps = [pgd_accuracy(eps, n, step_size) for n in step_counts]
    trace = pgd_loss_trace(model, pixels, labels, eps, step_size, steps, norm,
                           generator=gen())
    pgd_acc = pgd_accuracy(eps, steps, step_size)
    fgsm_acc = _accuracy(model, fgsm(model, pixels, labels, eps, norm=norm), labels)
    checks = [
        Check("robust accuracy falls to zero as eps grows",
              by_eps[-1] <= slack and _never_rises(by_eps, slack),
              "eps " + ", ".join(f"{r:.4g}: {100 * a:.1f}%" for r, a in zip(radii, by_eps))),
        Check("more PGD steps never raise robust accuracy", _never_rises(by_steps, slack),
              "steps " + ", ".join(f"{n}: {100 * a:.1f}%" for n, a in zip(step_counts,
                                                                      by_steps))),
        Check("the PGD loss rises across iterations", trace[-1] > trace[0],
              "loss " + " -> ".join(f"{v:.3f}" for v in _thin(trace))),
        Check("one FGSM step is no stronger than PGD", fgsm_acc >= pgd_acc - slack,
              f"FGSM {100 * fgsm_acc:.1f}%, PGD-{steps} {100 * pgd_acc:.1f}%"),
    ]
    if norm == "linf":
        square = square_attack(model, pixels, labels, eps, queries=queries, generator=gen())
        square_acc = _accuracy(model, square, labels)
        checks.append(Check("the gradient-free square attack is no stronger than PGD",
                            square_acc >= pgd_acc - slack,
                            f"square ({queries} queries) {100 * square_acc:.1f}%, "
                            f"PGD-{steps} {100 * pgd_acc:.1f}%"))
    model.train(was_training)
    return checks


def ensemble_warnings(report: dict, slack: float = 0.0) -> list[str]:
    """Signs of gradient masking in a :func:`robust_accuracy` report (check 4 above)."""
    acc = report["robust_accuracy"]
    out = []
    if "pgd" in acc and "square" in acc and acc["square"] < acc["pgd"] - slack:
        out.append("the gradient-free square attack beats PGD: the gradients may be masked; "
                   "trust the worst case, not PGD")
    if "pgd" in acc and "fgsm" in acc and acc["fgsm"] < acc["pgd"] - slack:
        out.append("one FGSM step beats PGD: the gradients may be masked, or PGD's step is "
                   "too small")
    return out


def format_checks(checks: Sequence[Check]) -> str:
    """One line per check: PASS/FAIL, what, and the numbers."""
    return "\n".join(f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}"
                     for c in checks)


def _never_rises(values: Sequence[float], slack: float) -> bool:
    return all(b <= a + slack for a, b in zip(values, values[1:]))


def _thin(values: Sequence[float], keep: int = 6) -> list[float]:
    """At most ``keep`` values, the first and last included (for a short printout)."""
    if len(values) <= keep:
        return list(values)
    picks = sorted({round(i * (len(values) - 1) / (keep - 1)) for i in range(keep)})
    return [values[i] for i in picks]
