"""Our attacks against torchattacks' on the same model and inputs, random starts off.

torchattacks expects inputs in [0, 1], so both see the network through PixelSpace (the
loader's normalisation folded into the model).
"""

import torch
import torchattacks
from torch import nn

from resnets.robust import PixelSpace, fgsm, pgd

MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def small_convnet() -> PixelSpace:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    with torch.no_grad():  # non-trivial running statistics, so eval mode matters
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return PixelSpace(net, MEAN, STD).eval()


def inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(16, 3, 12, 12, generator=gen), torch.randint(10, (16,), generator=gen)


def test_linf_pgd_equals_torchattacks_pgd():
    model, (x, y) = small_convnet(), inputs()
    ours = pgd(model, x, y, 8 / 255, step_size=2 / 255, steps=10, random_init=False,
               keep_best=False)
    theirs = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10,
                              random_start=False)(x, y)
    assert (ours - x).abs().max() > 7.9 / 255  # the attack went to the edge of the ball
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_l2_pgd_equals_torchattacks_pgdl2():
    model, (x, y) = small_convnet(), inputs()
    ours = pgd(model, x, y, 0.5, step_size=0.1, steps=10, norm="l2", random_init=False,
               keep_best=False)
    theirs = torchattacks.PGDL2(model, eps=0.5, alpha=0.1, steps=10, random_start=False)(x, y)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_fgsm_equals_torchattacks_fgsm():
    model, (x, y) = small_convnet(), inputs()
    torch.testing.assert_close(fgsm(model, x, y, 4 / 255),
                               torchattacks.FGSM(model, eps=4 / 255)(x, y), atol=1e-6, rtol=0)
