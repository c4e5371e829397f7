"""Robust accuracy: clean, under each attack, and under the worst case of all of them.

An image counts as robust to an attack when it is classified correctly both as it is and
after the attack; it counts as robust to the ensemble when no attack fooled it (the per-image
worst case, as AutoAttack reports). Attacks run only on the images that are classified
correctly, batch by batch on the model's device.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Callable, ClassVar, Iterable, Sequence

import torch
from torch import nn

from ..errors import ResnetsError, did_you_mean
from ..limits import SEED, Limit, check_fields, choice, integer, number
from ..train.attacks import NORMS, default_step_size, fgsm, pgd, square_attack

ATTACKS = ("fgsm", "pgd", "square")
Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttackSettings:
    """The threat model and the attacks' budgets."""

    eps: float  # radius of the perturbation ball, [0, 1] pixel units (8/255 = 8 grey levels)
    norm: str = "linf"  # linf | l2
    steps: int = 10  # PGD iterations per restart
    step_size: float = 0.0  # PGD step, pixel units; 0 = 2.5 eps / steps
    restarts: int = 1  # PGD runs from independent random starts; the worst one counts
    queries: int = 1000  # square attack: model evaluations per image
    seed: int = 0  # seeds the random starts and the square attack's search

    KEY: ClassVar[str] = "--{flag}"
    LIMITS: ClassVar[dict[str, Limit]] = {
        "eps": number(0, 100), "norm": choice(*NORMS), "steps": integer(1, 10_000),
        "step_size": number(0, 100), "restarts": integer(1, 1000),
        "queries": integer(1, 1_000_000), "seed": SEED,
    }

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def pgd_step(self) -> float:
        return self.step_size or default_step_size(self.eps, self.steps)


def check_attack_names(names: Sequence[str], norm: str) -> list[str]:
    """The attack names, checked: known, not repeated, and square only for L-inf."""
    if not names:
        raise ResnetsError(f"no attack given; choose from {', '.join(ATTACKS)}")
    for name in names:
        if name not in ATTACKS:
            raise ResnetsError(f"unknown attack {name!r}{did_you_mean(name, ATTACKS)}; "
                               f"choose from {', '.join(ATTACKS)}")
    if len(set(names)) != len(names):
        raise ResnetsError(f"an attack is named twice in {','.join(names)}")
    if norm != "linf" and "square" in names:
        raise ResnetsError("the square attack here is the L-inf one; drop it from the "
                           "attacks or use norm linf")
    return list(names)


def build_attacks(names: Sequence[str], settings: AttackSettings,
                  device: torch.device) -> dict[str, Attack]:
    """name -> attack(model, pixels, labels), each with its own seeded generator."""
    names = check_attack_names(names, settings.norm)
    s = settings
    out: dict[str, Attack] = {}
    for index, name in enumerate(names):
        generator = torch.Generator(device).manual_seed(s.seed * 1000 + index)
        if name == "fgsm":
            out[name] = functools.partial(fgsm, eps=s.eps, norm=s.norm)
        elif name == "pgd":
            out[name] = functools.partial(pgd, eps=s.eps, step_size=s.pgd_step, steps=s.steps,
                                          norm=s.norm, restarts=s.restarts,
                                          generator=generator)
        else:
            out[name] = functools.partial(square_attack, eps=s.eps, queries=s.queries,
                                          generator=generator)
    return out


def describe(name: str, settings: AttackSettings) -> str:
    """One line naming an attack and its budget."""
    s = settings
    if name == "pgd":
        return (f"PGD-{s.steps} {s.norm}, step {s.pgd_step:.4g}, "
                f"{s.restarts} restart{'s' if s.restarts > 1 else ''}")
    if name == "square":
        return f"square attack, {s.queries} queries"
    return f"FGSM {s.norm}"


def perturbation_size(adv: torch.Tensor, pixels: torch.Tensor, norm: str) -> float:
    """The largest perturbation of the batch in the threat model's norm."""
    diff = (adv - pixels).flatten(1)
    sizes = diff.abs().amax(1) if norm == "linf" else diff.norm(dim=1)
    return float(sizes.max()) if len(sizes) else 0.0


def robust_accuracy(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                    attacks: dict[str, Attack], norm: str, limit: int = 0) -> dict:
    """Clean, per-attack and worst-case accuracy of ``model`` (pixels in, logits out).

    ``batches`` yields (pixels in [0, 1], labels) on the model's device; ``limit`` > 0 stops
    after that many images. The model is evaluated in eval mode (the deployed function). The
    report also holds each attack's largest perturbation, as a check of the threat model.
    """
    was_training = model.training
    model.eval()
    seen = clean = worst = 0
    robust = dict.fromkeys(attacks, 0)
    largest = dict.fromkeys(attacks, 0.0)
    for pixels, labels in batches:
        if limit:
            pixels, labels = pixels[: limit - seen], labels[: limit - seen]
        if len(labels) == 0:
            break
        with torch.no_grad():
            correct = model(pixels).argmax(1) == labels
        survivors = correct.clone()
        idx = torch.nonzero(correct).flatten()
        for name, attack in attacks.items():
            held = correct.clone()
            if len(idx):
                adv = attack(model, pixels[idx], labels[idx])
                largest[name] = max(largest[name], perturbation_size(adv, pixels[idx], norm))
                with torch.no_grad():
                    held[idx] = model(adv).argmax(1) == labels[idx]
            robust[name] += int(held.sum())
            survivors &= held
        seen += len(labels)
        clean += int(correct.sum())
        worst += int(survivors.sum())
        if limit and seen >= limit:
            break
    model.train(was_training)
    if seen == 0:
        raise ResnetsError("no images to attack: the split is empty")
    return {"images": seen, "clean_accuracy": clean / seen,
            "robust_accuracy": {name: n / seen for name, n in robust.items()},
            "worst_case_accuracy": worst / seen, "largest_perturbation": largest}


def settings_dict(settings: AttackSettings) -> dict:
    return {**asdict(settings), "pgd_step": settings.pgd_step}
