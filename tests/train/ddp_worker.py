"""`resnets train` with faults injected, for the tests of several processes.

    python -m torch.distributed.run ... tests/train/ddp_worker.py [FAULT ...] -- TRAIN_ARGS

runs ``resnets.cli.main(["train", *TRAIN_ARGS])`` in each process torchrun starts, with hooks
that the command line cannot give. Faults (each applies once, in the first attempt only):

    stop-at=K          every process is asked to stop after step K, as Ctrl-C asks
    fail=RANK:K        process RANK raises a user error after step K
    hang=RANK:K:S      process RANK sleeps S seconds after step K
    disk-full=N        the N-th checkpoint write of rank 0 fails with "No space left"
    late-restart=RANK:S  after a torchrun restart, process RANK starts S seconds late
"""

import errno
import functools
import os
import sys
import time

import torch

from resnets import cli
from resnets.errors import ResnetsError
from resnets.train import checkpoint, distributed
from resnets.train.engine import Hook

RANK = int(os.environ.get("RANK", "0"))
FIRST_ATTEMPT = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"


class Fault(Hook):
    def __init__(self, kind, rank, step, seconds=0.0):
        self.kind, self.rank, self.step, self.seconds = kind, rank, step, seconds

    def on_step_end(self, ctx):
        if ctx.step != self.step or self.rank not in (None, RANK) or not FIRST_ATTEMPT:
            return
        if self.kind == "stop-at":
            ctx.stop_requested = True
        elif self.kind == "fail":
            raise ResnetsError(f"injected failure at step {ctx.step}")
        elif self.kind == "hang":
            time.sleep(self.seconds)


def disk_full_at(n):
    calls, real_save = [0], torch.save

    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    checkpoint.torch.save = save


def main(argv):
    split = argv.index("--")
    hooks = []
    for fault in argv[:split]:
        kind, _, value = fault.partition("=")
        parts = [float(p) for p in value.split(":")]
        if kind == "stop-at":
            hooks.append(Fault(kind, None, int(parts[0])))
        elif kind in ("fail", "hang"):
            hooks.append(Fault(kind, int(parts[0]), int(parts[1]), *parts[2:]))
        elif kind == "disk-full" and RANK == 0 and FIRST_ATTEMPT:
            disk_full_at(int(parts[0]))
        elif kind == "late-restart" and RANK == int(parts[0]) and not FIRST_ATTEMPT:
            time.sleep(parts[1])
    distributed.run = functools.partial(distributed.run, hooks=hooks)
    return cli.main(["train", *argv[split + 1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
