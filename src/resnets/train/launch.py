"""The one way every training command starts a run: alone, or in each process of torchrun.

``resnets train``, ``resnets speech train`` and ``resnets text train`` hand :func:`launch` how
to build their configuration and how to report the summary; it does the rest the same way for
all three: torchrun's environment, errors seen by every process, resuming (``--resume`` and
torchrun's restarts, :func:`resnets.train.distributed.run`) and printing on rank 0 alone.
"""

from __future__ import annotations

import os
from typing import Callable

from ..errors import ResnetsError, one_line
from . import distributed
from .config import TrainConfig


def launch(build_config: Callable[[], TrainConfig], resume_dir: str | os.PathLike | None,
           report: Callable[[dict], None], runner: Callable[..., dict] | None = None) -> int:
    """Train the run ``build_config()`` describes (continuing ``resume_dir`` if given); rank 0
    calls ``report(summary)`` at the end. Returns the exit status of this process.

    ``runner(cfg, resume_dir=..., env=...)`` trains in this process; by default one engine
    run (:func:`resnets.train.distributed.run`), e.g. a sequence of them for continual
    learning."""
    env = distributed.detect()
    try:
        cfg = build_config()  # validated there, before a process group, a run or any data
    except ResnetsError:
        if env.rank:  # the same mistake in every process: rank 0 reports it
            return 2
        raise
    try:
        summary = (runner or distributed.run)(cfg, resume_dir=resume_dir, env=env)
    except ResnetsError as exc:
        if env.rank:
            raise ResnetsError(f"[rank {env.rank}] {one_line(str(exc))}") from None
        raise
    if env.rank == 0:
        report(summary)
    return 0
