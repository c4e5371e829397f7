"""The degradation problem (He et al. 2015, Sec. 4.2 and Fig. 6).

Plain networks and ResNets of several depths are trained with the same recipe and seeds.
The paper's observation: the deeper plain networks have the *higher training error* (so it is
an optimisation problem, not overfitting), while deeper ResNets reach lower or equal error.
"""

from __future__ import annotations

from pathlib import Path

from .core import Spec
from .report import (curves_rows, error_curves_figure, errors_table, final_errors,
                     group_errors, percent, write_csv, write_findings)
from .runner import MemberResult
from .settings import Budget, ExperimentConfig, Member, parse_budget

NETWORKS = {"plain": "cifar_plain", "resnet": "cifar_resnet"}
TITLES = {"plain": "plain networks", "resnet": "residual networks"}
MARGIN = 0.01  # training-error difference (fraction) that counts as higher or lower


def members(cfg: ExperimentConfig, budget: Budget) -> list[Member]:
    return [Member(f"{net}{depth}-seed{seed}", {"network": net, "depth": depth, "seed": seed},
                   {"model.name": model, "model.depth": depth, "seed": seed})
            for net, model in NETWORKS.items() for depth in cfg.depths for seed in cfg.seeds]


def plot(results: list[MemberResult], depths, path: Path) -> Path:
    """Fig. 6 of the paper: one panel per kind of network, one colour per depth."""
    panels = [(TITLES[net], [(f"{net}-{d}", [r for r in results if r.labels["network"] == net
                                               and r.labels["depth"] == d]) for d in depths])
              for net in NETWORKS]
    return error_curves_figure(panels, path)


def verdict(groups: list[dict], depths) -> tuple[bool, list[str]]:
    """Did deeper plain nets train worse while deeper ResNets did not? With the numbers."""
    train = {(g["network"], g["depth"]): g["train_error_mean"] for g in groups}
    low, high = min(depths), max(depths)
    plain = [train["plain", d] for d in sorted(depths)]
    resnet = [train["resnet", d] for d in sorted(depths)]
    plain_rises = train["plain", high] > train["plain", low] + MARGIN
    resnet_holds = train["resnet", high] <= train["resnet", low] + MARGIN
    monotone = all(b > a for a, b in zip(plain, plain[1:]))
    lines = [
        f"- Plain: final training error {percent(train['plain', low])}% at depth {low}, "
        f"{percent(train['plain', high])}% at depth {high}: "
        + ("higher for the deeper net" if plain_rises else "not higher for the deeper net")
        + (" (and rising at every depth step)." if monotone else "."),
        f"- Residual: final training error {percent(train['resnet', low])}% at depth {low}, "
        f"{percent(train['resnet', high])}% at depth {high}: "
        + ("not higher for the deeper net." if resnet_holds else "higher for the deeper net."),
        "- Plain minus residual training error per depth (points): " + ", ".join(
            f"{d}: {100 * (p - r):+.2f}" for d, p, r in zip(sorted(depths), plain, resnet)),
    ]
    return plain_rises and resnet_holds, lines


def report(cfg: ExperimentConfig, results: list[MemberResult], out: Path,
           command: str) -> list[str]:
    write_csv(out / "curves.csv", curves_rows(results))
    finals = final_errors(results)
    write_csv(out / "final_errors.csv", finals)
    groups = group_errors(finals, ("network", "depth"))
    plot(results, cfg.depths, out / "degradation.png")
    appeared, lines = verdict(groups, cfg.depths)
    headline = ("The degradation effect appeared" if appeared else
                "The degradation effect did not appear")
    headline += (f" (a difference counts when it exceeds {100 * MARGIN:.0f} point; errors are "
                 f"means over {len(cfg.seeds)} seed(s)).")
    intro = (f"Plain and residual networks of depths {', '.join(map(str, cfg.depths))}, "
             f"trained on {cfg.data} for {parse_budget(cfg.budget).text()} with the same "
             f"recipe and seeds ({', '.join(map(str, cfg.seeds))}).")
    return write_findings(out, "Degradation of plain networks", command, intro, headline, lines, [
        "![training (dashed) and test (solid) error against iterations](degradation.png)",
        "## Final errors\n\nThe last epoch's training error (running, as the paper plots it) "
        "and test error; mean ± standard deviation over seeds. Raw numbers: "
        "`final_errors.csv` (per run) and `curves.csv` (per epoch).\n\n"
        + errors_table(groups, ("network", "depth"))], results)


SPEC = Spec("degradation", depths=(20, 32, 44, 56),
            budgets={"digits": "30e", "cifar10": "64000", "cifar100": "64000", "other": "400"},
            members=members, report=report)
