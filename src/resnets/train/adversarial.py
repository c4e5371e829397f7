"""Adversarial training: every batch is replaced by attacked images before the step.

``adv.method=pgd`` is Madry et al. (2018): minimise the loss on PGD's last iterate from a
random start (eps 8/255, step 2/255, 7 steps on CIFAR-10). ``adv.method=fgsm`` is the fast
adversarial training of Wong, Rice & Kolter (2020): one FGSM step of 1.25 eps from a uniform
random start. The loader's images are normalised, so the attack maps them back to [0, 1]
pixels, attacks there, and normalises the result again.

Which mode the attack runs in. The attack runs the network in training mode, with batch
statistics, as the reference implementations of both papers do: the point the attack finds
should maximise the very loss the step then minimises, and early in training the running
statistics of eval mode describe a different function from the one being trained. The
attack's forward passes must not, however, move the running statistics (evaluation uses
them), so every buffer is restored afterwards: the running averages see only the batch the
step trains on, exactly as in standard training.

Distributed and compiled training. The attack runs on the unwrapped module: the extra forward
and backward of a DistributedDataParallel wrapper would arm its gradient reducer (and expect
a matching reduction); a ``torch.compile`` wrapper (``_orig_mod``) would compile the attack's
graphs too. The attack asks autograd for the gradient of the input only, so no parameter
gradient is left behind for the optimiser to see.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResnetsError
from .attacks import PixelSpace, check_norm, fgsm, pgd, to_pixels
from .config import TrainConfig
from .ema import unwrap_model


@contextlib.contextmanager
def restored_buffers(module: nn.Module) -> Iterator[None]:
    """Run the body, then put every buffer (BatchNorm running statistics) back as it was."""
    saved = [(buf, buf.detach().clone()) for buf in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def adversarial_objective(cfg: TrainConfig, mean: list[float], std: list[float]):
    """``objective(net, images, labels) -> (loss, logits)`` on attacked images.

    ``mean``/``std`` are the loader's normalisation (0..1 scale). The logits returned are
    those of the attacked batch, so the run's training error is the adversarial one.
    """
    adv = cfg.adv
    check_norm(adv.norm)
    if adv.method not in ("pgd", "fgsm"):
        raise ResnetsError(f"adv.method={adv.method!r} is not an adversarial training "
                           "method; use pgd or fgsm")
    if not mean or not std:
        raise ResnetsError("adversarial training needs the data's normalisation (mean and "
                           "std); this dataset's pipeline gives none")
    smoothing = cfg.optim.label_smoothing

    def attack(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if adv.method == "fgsm":
            return fgsm(model, pixels, labels, adv.eps, norm=adv.norm,
                        random_init=adv.random_start, step_size=adv.step_size)
        return pgd(model, pixels, labels, adv.eps, adv.step_size, adv.steps, adv.norm,
                   random_init=adv.random_start, keep_best=False)

    def objective(net, images, labels):
        plain = unwrap_model(net)
        pixels = to_pixels(images, mean, std)
        with restored_buffers(plain):
            attacked = attack(PixelSpace(plain, mean, std), pixels, labels)
        # Add the perturbation to the loader's images rather than normalising the attacked
        # pixels again: the round trip would move every pixel by float rounding (~1e-7),
        # and ReLU networks on images with flat regions amplify that within a few steps.
        std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device)
        logits = net(images + (attacked - pixels) / std_t.view(1, -1, 1, 1))
        return F.cross_entropy(logits.float(), labels, label_smoothing=smoothing), logits

    return objective
