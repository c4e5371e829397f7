"""The extra optimisers of tasks trained in turns (train/multi.py)."""

import weakref

import torch

from resnets.train.config import EngineConfig, OptimConfig
from resnets.train.multi import ExtraOptimizer, Updates


class Context:
    """The part of the engine's context that Updates reads."""

    step = 0


def test_updates_follow_the_engines_step_without_keeping_its_context_alive():
    # The context holds the step function, which holds the updates: a strong reference back
    # made a cycle that kept the DDP model past the run, to the interpreter's exit.
    part = torch.nn.Linear(2, 1)
    updates = Updates([ExtraOptimizer("part", part, OptimConfig(lr=0.1, momentum=0.0,
                                                                  weight_decay=0.0))],
                      EngineConfig(), torch.device("cpu"), world_size=1)
    ctx = Context()
    ctx.updates = updates
    updates.bind(ctx, steps_per_epoch=1, total_steps=10)
    ctx.step = 5
    before = part.weight.detach().clone()
    updates.step("part", part(torch.ones(1, 2)).sum())
    assert not torch.equal(part.weight, before)  # a step was taken at the bound context's step
    context = weakref.ref(ctx)
    del ctx
    assert context() is None
