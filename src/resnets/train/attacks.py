"""Adversarial attacks in [0, 1] pixel space, each batched on the model's device.

Every attack takes ``model``: a callable from N x C x H x W pixels in [0, 1] to logits. A
network trained on normalised images is seen from pixel space through :class:`PixelSpace`, so
the radius ``eps`` is measured in pixel units (8/255 = eight grey levels) whatever the
normalisation, and every adversarial image stays a valid image (clamped to [0, 1]).

- :func:`fgsm`: one step of size eps along the gradient's sign (Goodfellow et al. 2015); with
  a random start and a step of 1.25 eps it is the fast adversarial training attack of Wong,
  Rice & Kolter (2020).
- :func:`pgd`: projected gradient descent on the cross-entropy in an L-inf or L2 ball, from a
  random start, with restarts (Madry et al. 2018).
- :func:`square_attack`: the gradient-free random search of Andriushchenko et al. (2020):
  square windows set to +-eps, kept when they lower the classification margin. It needs no
  gradient, so it cannot be fooled by gradient masking, which makes it the ensemble's check
  on the gradient attacks.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import normalize
from ..errors import ResnetsError, did_you_mean

NORMS = ("linf", "l2")
Model = Callable[[torch.Tensor], torch.Tensor]

# Square attack: the share p of the image a window covers, halved at these points of a
# 10,000-query budget (Andriushchenko et al. 2020, Sec. 4; rescaled to shorter budgets).
SQUARE_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


class PixelSpace(nn.Module):
    """A network trained on normalised inputs, seen from [0, 1] pixels: net((x - mean) / std)."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.net = net
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(normalize(pixels, self.mean, self.std))


def to_pixels(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]
              ) -> torch.Tensor:
    """Normalised images back to [0, 1] pixels: ``images * std + mean`` per channel."""
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images * std_t + mean_t).clamp(0, 1)


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ResnetsError(f"unknown norm {norm!r}{did_you_mean(norm, NORMS)}; "
                           f"use one of {', '.join(NORMS)}")


def default_step_size(eps: float, steps: int) -> float:
    """2.5 eps / steps: enough to cross the ball and back (Madry et al. 2018, Appendix)."""
    return 2.5 * eps / steps


def _per_image_norm(x: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each image, shaped N x 1 x 1 x 1 for broadcasting."""
    return x.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))


def steepest_ascent(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit step that raises a linear function fastest: sign(g) (L-inf), g/||g|| (L2)."""
    if norm == "linf":
        return grad.sign()
    return grad / _per_image_norm(grad).clamp_min(1e-12)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The nearest perturbation in the ball of radius ``eps``: clip (L-inf), rescale (L2)."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _per_image_norm(delta).clamp_min(1e-12)).clamp(max=1.0)


def random_start(pixels: torch.Tensor, eps: float, norm: str,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A random point of the ball around each image, clamped to [0, 1].

    L-inf: uniform in the cube. L2: a uniformly random direction at a radius drawn uniformly
    from [0, eps] (torchattacks draws it the same way).
    """
    if norm == "linf":
        delta = (_uniform(pixels.shape, pixels, generator) * 2 - 1) * eps
    else:
        direction = _normal(pixels.shape, pixels, generator)
        radius = _uniform((len(pixels),) + (1,) * (pixels.dim() - 1), pixels, generator)
        delta = direction / _per_image_norm(direction).clamp_min(1e-12) * radius * eps
    return (pixels + delta).clamp(0, 1)


class WorstCase:
    """Per image, the most damaging adversarial input seen so far.

    Misclassified beats correctly classified; between two of the same kind the higher
    cross-entropy wins. Offering every iterate of every restart makes robust accuracy
    monotone in the number of steps and restarts.
    """

    def __init__(self, pixels: torch.Tensor) -> None:
        self.images = pixels.detach().clone()
        self.wrong = torch.zeros(len(pixels), dtype=torch.bool, device=pixels.device)
        self.loss = torch.full((len(pixels),), -math.inf, device=pixels.device)

    def offer(self, images: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
              loss: torch.Tensor) -> None:
        wrong = logits.argmax(1) != labels
        loss = loss.detach().float()
        better = (wrong & ~self.wrong) | ((wrong == self.wrong) & (loss > self.loss))
        self.images[better] = images.detach()[better]
        self.wrong |= wrong
        self.loss = torch.where(better, loss, self.loss)


def _pgd_run(model: Model, pixels: torch.Tensor, labels: torch.Tensor, start: torch.Tensor,
             eps: float, step_size: float, steps: int, norm: str,
             worst: WorstCase | None = None, trace: list[float] | None = None
             ) -> torch.Tensor:
    """``steps`` projected ascent steps from ``start``; returns the last iterate.

    With ``worst`` every iterate (the last included) is offered to it; with ``trace`` the
    mean loss of every iterate is appended (one host sync each: for the sanity checks only).
    """
    adv = start.detach()
    look_at_last = worst is not None or trace is not None
    for k in range(steps + 1):
        if k == steps and not look_at_last:
            break
        adv.requires_grad_(k < steps)
        with torch.set_grad_enabled(k < steps):
            logits = model(adv)
            loss = F.cross_entropy(logits.float(), labels, reduction="none")
        if worst is not None:
            worst.offer(adv, logits, labels, loss)
        if trace is not None:
            trace.append(loss.mean().item())
        if k == steps:
            break
        # Gradient with respect to the input only: no parameter .grad is written.
        (grad,) = torch.autograd.grad(loss.sum(), adv)
        moved = adv.detach() + step_size * steepest_ascent(grad, norm)
        adv = (pixels + project(moved - pixels, eps, norm)).clamp(0, 1)
    return adv.detach()


def pgd(model: Model, pixels: torch.Tensor, labels: torch.Tensor, eps: float,
        step_size: float | None = None, steps: int = 10, norm: str = "linf",
        random_init: bool = True, restarts: int = 1, keep_best: bool = True,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent on the cross-entropy (Madry et al. 2018, Eq. 2).

    x_{t+1} = Proj_{B(x, eps) and [0,1]}(x_t + step_size * d(grad_x L(x_t, y))), with d the
    sign (L-inf) or the normalised gradient (L2). ``keep_best`` returns, per image, the most
    damaging iterate over all steps and restarts (evaluation); without it, the last iterate
    (training, as in the paper; several restarts still keep the most damaging last iterate).
    ``step_size`` defaults to 2.5 eps / steps.
    """
    check_norm(norm)
    _check_budget(eps, steps, restarts)
    if restarts > 1 and not random_init:
        raise ResnetsError("restarts without a random start repeat the same attack; "
                           "use restarts=1 or a random start")
    step_size = default_step_size(eps, steps) if step_size is None else step_size
    worst = WorstCase(pixels) if keep_best or restarts > 1 else None
    last = pixels
    for _ in range(restarts):
        start = random_start(pixels, eps, norm, generator) if random_init else pixels
        last = _pgd_run(model, pixels, labels, start, eps, step_size, steps, norm,
                        worst if keep_best else None)
        if worst is not None and not keep_best:
            with torch.no_grad():
                logits = model(last)
            worst.offer(last, logits, labels, F.cross_entropy(logits.float(), labels,
                                                              reduction="none"))
    return worst.images if worst is not None else last


def pgd_loss_trace(model: Model, pixels: torch.Tensor, labels: torch.Tensor, eps: float,
                   step_size: float | None = None, steps: int = 10, norm: str = "linf",
                   random_init: bool = True, generator: torch.Generator | None = None
                   ) -> list[float]:
    """The mean cross-entropy at each of PGD's ``steps + 1`` iterates (start included)."""
    check_norm(norm)
    _check_budget(eps, steps, 1)
    step_size = default_step_size(eps, steps) if step_size is None else step_size
    start = random_start(pixels, eps, norm, generator) if random_init else pixels
    trace: list[float] = []
    _pgd_run(model, pixels, labels, start, eps, step_size, steps, norm, trace=trace)
    return trace


def fgsm(model: Model, pixels: torch.Tensor, labels: torch.Tensor, eps: float,
         norm: str = "linf", random_init: bool = False, step_size: float | None = None,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """The fast gradient sign method: x + eps * sign(grad_x L(x, y)) (Goodfellow et al. 2015).

    With ``random_init`` it is Wong et al.'s (2020) "FGSM with random initialisation": a
    uniform start in the ball and one step of ``step_size`` (they use 1.25 eps), projected
    back into the ball. With ``norm="l2"`` the step follows the normalised gradient.
    """
    check_norm(norm)
    _check_budget(eps, 1, 1)
    start = random_start(pixels, eps, norm, generator) if random_init else pixels
    step = eps if step_size is None else step_size
    return _pgd_run(model, pixels, labels, start, eps, step, 1, norm)


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The true class's logit minus the largest other one: negative when misclassified."""
    logits = logits.float()
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], -math.inf)
    return true - others.max(1).values


def square_side(query: int, queries: int, p_init: float, height: int, width: int) -> int:
    """Side of the square window at ``query``: sqrt(p * H * W), p halved on a schedule."""
    rescaled = int(query / queries * 10000)
    p = p_init / 2 ** sum(1 for point in SQUARE_HALVINGS if rescaled > point)
    side = int(round(math.sqrt(p * height * width)))
    return max(1, min(side, min(height, width) - 1))


@torch.no_grad()
def square_attack(model: Model, pixels: torch.Tensor, labels: torch.Tensor, eps: float,
                  queries: int = 1000, p_init: float = 0.8,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The L-inf square attack (Andriushchenko et al. 2020, Algorithm 1), batched.

    Start from vertical stripes of +-eps; at each query every image still classified
    correctly gets one random square window (its own position) set to +-eps per channel,
    kept when it lowers the margin. Queries stop for an image once it is misclassified.
    ``p_init`` = 0.8 is AutoAttack's value; the window shrinks as the queries run out.
    """
    _check_budget(eps, queries, 1)
    n, c, h, w = pixels.shape
    stripes = _sign((n, c, 1, w), pixels, generator) * eps
    best = (pixels + stripes).clamp(0, 1)
    best_margin = margin(model(best), labels)
    rows = torch.arange(h, device=pixels.device)
    cols = torch.arange(w, device=pixels.device)
    for query in range(1, queries):
        active = torch.nonzero(best_margin > 0).flatten()
        if len(active) == 0:
            break
        side = square_side(query, queries, p_init, h, w)
        top = _randint(h - side + 1, len(active), pixels, generator)
        left = _randint(w - side + 1, len(active), pixels, generator)
        in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)
        in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)
        window = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # m x 1 x H x W
        clean = pixels[active]
        delta = torch.where(window, _sign((len(active), c, 1, 1), pixels, generator) * eps,
                            best[active] - clean)
        candidate = (clean + delta).clamp(0, 1)
        candidate_margin = margin(model(candidate), labels[active])
        better = candidate_margin < best_margin[active]
        best[active[better]] = candidate[better]
        best_margin[active[better]] = candidate_margin[better]
    return best


def _check_budget(eps: float, steps: int, restarts: int) -> None:
    if eps < 0 or steps < 1 or restarts < 1:
        raise ResnetsError(f"an attack needs eps >= 0, steps >= 1 and restarts >= 1; got eps "
                           f"{eps}, steps {steps}, restarts {restarts}")


def _uniform(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    out = torch.rand(shape, generator=generator, device=device, dtype=like.dtype)
    return out.to(like.device)


def _normal(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    out = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return out.to(like.device)


def _sign(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """+1 or -1 with equal probability."""
    return (_uniform(shape, like, generator) < 0.5).to(like.dtype) * 2 - 1


def _randint(high: int, count: int, like: torch.Tensor, generator: torch.Generator | None
             ) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    return torch.randint(high, (count,), generator=generator, device=device).to(like.device)
