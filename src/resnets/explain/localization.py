"""Does the map point at the object? Box hits on the synthetic shapes, and a model to test.

Each scene holds one shape (circle, square or triangle, data/shapes.py) on a textured
background; a classifier learns its class, and a map "hits" when its maximum, upsampled to the
image, falls inside the shape's box. Used by benchmarks/explain_shapes.py (docs/attention.md)
and by the tests of the model-randomisation check (Adebayo et al. 2018).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.shapes import ShapesConfig, render_scene
from .cam import class_maps, peak, upsample

MEAN, STD = 0.5, 0.25  # of the scaled pixels, roughly; a fixed normalisation


def one_shape_scenes(count: int, size: int = 64, seed: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N x 3 x size x size normalised images, N classes 0..2, N x 4 boxes x0 y0 x1 y1)."""
    cfg = ShapesConfig(image_size=size, min_objects=1, max_objects=1, min_size=size // 3,
                       max_size=size // 2)
    rng = np.random.default_rng(seed)
    images, labels, boxes = [], [], []
    for _ in range(count):
        image, (shape,) = render_scene(rng, cfg)
        images.append(image)
        labels.append(shape.class_id - 1)
        boxes.append(shape.box)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD, torch.tensor(labels), torch.tensor(boxes)


def fit(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int,
        batch_size: int = 64, lr: float = 0.05, seed: int = 0,
        log: Callable[[int, float], None] | None = None) -> nn.Module:
    """Plain SGD with momentum and a cosine schedule, random flips; the model in eval mode.
    ``log(epoch, training accuracy)`` is called after each epoch."""
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    optim = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4,
                            nesterov=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, steps)
    model.train()
    for epoch in range(epochs):
        order, correct = torch.randperm(len(images), generator=gen), 0
        for start in range(0, len(images), batch_size):
            index = order[start:start + batch_size]
            x = images[index]
            flip = torch.rand(len(x), generator=gen) < 0.5  # shapes are mirror-symmetric
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            logits = model(x)
            loss = F.cross_entropy(logits, labels[index])
            correct += int((logits.argmax(1) == labels[index]).sum())
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            schedule.step()
        if log is not None:
            log(epoch, correct / len(images))
    return model.eval()


def box_hits(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             boxes: torch.Tensor, stage: int, batch_size: int = 100) -> dict[str, float]:
    """Accuracy, and per method the fraction of images whose map of the true class peaks
    inside the object's box."""
    hits = {"gradcam": 0, "gradcam++": 0}
    correct = 0
    for start in range(0, len(images), batch_size):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        x0, y0, x1, y1 = boxes[start:start + batch_size].unbind(1)
        maps = class_maps(model, x, stage, classes=y)
        correct += int((maps.logits.argmax(1) == y).sum())
        for method, m in (("gradcam", maps.gradcam), ("gradcam++", maps.gradcampp)):
            row, col = peak(upsample(m, x.shape[-2:])).unbind(1)
            inside = (col >= x0) & (col < x1) & (row >= y0) & (row < y1)
            hits[method] += int(inside.sum())
    n = len(images)
    return {"accuracy": correct / n, **{k: v / n for k, v in hits.items()}}
