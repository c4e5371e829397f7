"""Several processes, one run: PyTorch's DistributedDataParallel started by torchrun.

``torchrun --nproc_per_node N -m resnets.cli train ...`` starts N copies of the command and
tells each who it is through environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT). :func:`detect` reads them;
:func:`session` joins the process group (NCCL when the processes train on CUDA devices, Gloo on
the CPU) and leaves it at the end; :func:`run` ties it together for the CLI: it resumes the run
after a torchrun restart and calls ``train`` with a DDP wrapper.

``batch_size`` is the global batch: each step every process takes ``batch_size / N`` images of
one global batch and DDP averages the gradients, so N processes take the steps one would.

The collectives that every process calls at the same point of the loop live in
:mod:`resnets.train.collectives` (the engine imports them from there, this module imports the
engine); their names stay importable from here.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ResnetsError, first_line
from .checkpoint import CheckpointWarning
from .collectives import (DistributedError, active, all_sum, any_rank,  # noqa: F401
                          broadcast_text, global_evaluation, global_sums, same_everywhere,
                          sync_buffers)
from .config import EngineConfig
from .engine import train
from .optim import scaled_lr  # noqa: F401 (the rule the engine applies to every run)
from .rundir import lock_owner
from .sync_norm import GlobalBatchNorm, convert_to_global_batchnorm

LAUNCHER_HINT = ("start the processes with torchrun, which sets RANK, WORLD_SIZE, LOCAL_RANK, "
                 "MASTER_ADDR and MASTER_PORT")


@dataclass(frozen=True)
class DistEnv:
    """Who this process is, as torchrun says; the defaults describe a lone process."""

    rank: int = 0  # index of this process among all of the run, 0..world_size-1
    world_size: int = 1  # processes of the run, on all machines together
    local_rank: int = 0  # index of this process on its machine: the GPU it drives
    restart_count: int = 0  # times torchrun has restarted the processes so far
    max_restarts: int = 0  # torchrun --max-restarts
    master_addr: str = ""  # host of the store the processes meet at
    master_port: int = 0  # its port
    agent_store: bool = False  # torchrun's agent hosts that store, for all its attempts
    run_id: str = ""  # torchrun's run id (--rdzv-id; --standalone: new for every launch)


def detect(environ: Mapping[str, str] | None = None) -> DistEnv:
    """This process's place in the run, from torchrun's environment variables."""
    env = os.environ if environ is None else environ
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return DistEnv()
    for name in ("RANK", "WORLD_SIZE"):
        if name not in env:
            raise DistributedError(f"{name} is not set but the other torchrun variables are; "
                                   + LAUNCHER_HINT)
    values = {name: _env_int(env, name) for name in
              ("RANK", "WORLD_SIZE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS")}
    rank, world_size = values["RANK"], values["WORLD_SIZE"]
    if world_size < 1 or not 0 <= rank < world_size:
        raise DistributedError(f"RANK={rank} and WORLD_SIZE={world_size} do not fit together "
                               "(0 <= RANK < WORLD_SIZE); " + LAUNCHER_HINT)
    if world_size > 1:
        missing = [n for n in ("LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if n not in env]
        if missing:
            raise DistributedError(f"WORLD_SIZE={world_size} but {missing[0]} is not set; "
                                   + LAUNCHER_HINT)
    local_rank = _env_int(env, "LOCAL_RANK")
    if local_rank < 0:
        raise DistributedError(f"LOCAL_RANK must be >= 0, got {local_rank}")
    return DistEnv(rank, world_size, local_rank, values["TORCHELASTIC_RESTART_COUNT"],
                   values["TORCHELASTIC_MAX_RESTARTS"], env.get("MASTER_ADDR", ""),
                   _env_int(env, "MASTER_PORT"),
                   env.get("TORCHELASTIC_USE_AGENT_STORE") == "True",
                   env.get("TORCHELASTIC_RUN_ID", ""))


def _env_int(env: Mapping[str, str], name: str) -> int:
    text = env.get(name, "0")
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"environment variable {name}={text!r} is not an integer; "
                               + LAUNCHER_HINT) from None


def restart_dir(cfg: EngineConfig, env: DistEnv) -> Path | None:
    """The run directory to resume when torchrun has restarted the processes, else None.

    Restarted processes find the run again by its name, so ``--max-restarts`` needs one; the
    directory is theirs only when its lock was last taken by this torchrun run (its run id),
    never a finished run of an earlier launch that the first attempt refused.
    """
    if env.max_restarts > 0 and not cfg.run_name:
        raise ResnetsError("torchrun --max-restarts needs a fixed run directory that restarted "
                           "processes can resume: pass --name NAME (run_name=NAME)")
    path = Path(cfg.out_dir) / cfg.run_name
    if own_restarted_run(path, env) and ((path / "last.pt").exists()
                                         or (path / "last.prev.pt").exists()):
        return path
    return None


def own_restarted_run(path: Path, env: DistEnv) -> bool:
    """Whether torchrun restarted these processes and ``path`` is the run they started."""
    owner = lock_owner(path) if env.restart_count > 0 else None
    return owner is not None and owner.get("torchrun_run_id") == env.run_id


def run(cfg: EngineConfig, resume_dir: str | os.PathLike | None = None,
        hooks: Sequence[Any] = (), env: DistEnv | None = None, task: Any = None) -> dict:
    """``train(cfg)`` (of ``task``, by default the task of ``cfg``'s class) in one of the
    processes torchrun started, or alone without torchrun."""
    env = detect() if env is None else env
    if resume_dir is None:
        resume_dir = restart_dir(cfg, env)
    # Restarted before the first checkpoint: start afresh in the run's own directory.
    reenter = resume_dir is None and bool(cfg.run_name) and own_restarted_run(
        Path(cfg.out_dir) / cfg.run_name, env)
    with session(cfg, env) as wrap_model:
        return train(cfg, resume_dir=resume_dir, hooks=hooks, rank=env.rank,
                     world_size=env.world_size, wrap_model=wrap_model, reenter=reenter,
                     task=task)


@contextlib.contextmanager
def session(cfg: EngineConfig, env: DistEnv) -> Iterator[Callable[[nn.Module], nn.Module] | None]:
    """Join the process group for the run; yields the model wrapper (None for one process).

    A process that waits longer than ``cfg.dist_timeout`` seconds for the others fails, and a
    lost connection ends the wait at once: one failing process never hangs the rest.
    """
    if env.world_size == 1:
        yield None
        return
    device = _process_device(cfg, env)
    timeout = datetime.timedelta(seconds=cfg.dist_timeout)
    options: dict[str, Any] = {"device_id": device} if device is not None else {}
    try:
        if env.agent_store:
            options.update(store=_attempt_store(env, timeout), rank=env.rank,
                           world_size=env.world_size)
        dist.init_process_group("nccl" if device is not None else "gloo", timeout=timeout,
                                **options)
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(f"cannot join the process group ({_first_line(exc)}); check "
                               "MASTER_ADDR/MASTER_PORT (--rdzv_endpoint) and that every "
                               "machine runs the same command") from exc
    try:
        with warnings.catch_warnings():
            if env.rank != 0:  # every process reads the same checkpoint; rank 0 reports
                warnings.simplefilter("ignore", CheckpointWarning)
            yield lambda model: _wrap(model, device, cfg.sync_bn)
    except RuntimeError as exc:
        if not _is_lost_peer(exc):
            raise
        cause = _first_line(exc).split(". ")[0]  # Gloo's advice follows the first sentence
        raise DistributedError(f"lost the other processes ({cause}); the process that failed "
                               "first printed the cause") from exc
    finally:
        # Whatever still holds the DDP model (a reference cycle: an exception caught in
        # matplotlib keeps the frames of the run's last calls) is freed while the group
        # exists: freed at the interpreter's exit instead, the Gloo group it holds aborted
        # the process ("terminate called without an active exception").
        gc.collect()
        dist.destroy_process_group()


def _attempt_store(env: DistEnv, timeout: datetime.timedelta) -> dist.Store:
    """torchrun's store, seen through a prefix naming this attempt.

    The agent keeps one store for all attempts, and PyTorch's own keys in it do not name the
    attempt: a restarted process could read the address of the process it replaces, and Gloo
    then fails with "Connection refused" (or NCCL with a stale id).
    """
    store = dist.TCPStore(env.master_addr, env.master_port, is_master=False, timeout=timeout)
    return dist.PrefixStore(f"resnets/attempt_{env.restart_count}", store)


def _process_device(cfg: EngineConfig, env: DistEnv) -> torch.device | None:
    """The CUDA device of this process (NCCL), or None to train on the CPU (Gloo)."""
    name = cfg.device
    if name.startswith("cuda") or (name == "auto" and torch.cuda.is_available()):
        if name not in ("auto", "cuda"):
            raise ResnetsError(f"device={name} would put every process on one GPU; use "
                               "device=cuda: each process drives the GPU of its LOCAL_RANK")
        count = torch.cuda.device_count()
        if env.local_rank >= count:
            raise ResnetsError(f"LOCAL_RANK={env.local_rank} but this machine has {count} "
                               f"GPUs; start at most {count} processes per machine "
                               "(--nproc_per_node)")
        torch.cuda.set_device(env.local_rank)
        return torch.device("cuda", env.local_rank)
    mps = getattr(torch.backends, "mps", None)
    if name not in ("auto", "cpu") or (mps and mps.is_available()):
        raise ResnetsError(f"device={name} cannot train with several processes "
                           "(torch.distributed has no backend for it); use device=cuda or "
                           "device=cpu")
    return None


def _wrap(model: nn.Module, device: torch.device | None, sync_bn: bool) -> nn.Module:
    if sync_bn:
        model = sync_batchnorm(model, cuda=device is not None)
    ids = [device.index] if device is not None else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def sync_batchnorm(model: nn.Module, cuda: bool) -> nn.Module:
    """``model`` with BatchNorm over the global batch: PyTorch's layer on CUDA, ours elsewhere.

    Both swap the BatchNorm children in place, keeping their parameters: the optimiser and the
    engine's reference to ``model`` stay valid; frozen stages keep their own BatchNorm.
    PyTorch's ``SyncBatchNorm`` has fused CUDA kernels but refuses CPU tensors;
    :class:`GlobalBatchNorm` runs on any device.
    """
    return convert_to_global_batchnorm(model, nn.SyncBatchNorm if cuda else GlobalBatchNorm)


def _is_lost_peer(exc: BaseException) -> bool:
    """A failed collective: NCCL raises DistError, Gloo a RuntimeError naming its transport."""
    return isinstance(exc, dist.DistError) or "gloo/transport" in str(exc)


def _first_line(exc: BaseException) -> str:
    return re.sub(r"^\[[^\]]*\] ", "", first_line(exc))  # drop the C++ source location
