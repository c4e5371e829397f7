"""The training loop of every task: short enough to read in one sitting.

``train(cfg)`` runs the task of ``cfg`` (:mod:`resnets.train.task`: its data, model, batch
loss and evaluation) with what the engine owns: the device, precision, compile, the optimiser
and schedule, EMA and SWA (:mod:`resnets.train.averaging`), gradient clipping, evaluation
every ``eval_every`` epochs, the run directory (config, metrics, curves, checkpoints,
summary), Ctrl-C and the NaN guard. A checkpoint holds everything needed to continue
bit-for-bit: weights, optimiser, EMA and SWA, schedule state, hooks, RNG states, the running
sums and the position in the epoch. Hook objects see named points of the loop and may carry
state of their own.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shlex
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import CheckpointError, ResnetsError
from ..files import check_writable, write_text_atomic
from . import classification  # noqa: F401 (registers the task of TrainConfig)
from .averaging import WeightAverages, check_averaging
from .checkpoint import (CheckpointManager, capture_rng_state, restore_rng_state,
                         save_checkpoint)
from .collectives import (all_sum, any_rank, broadcast_text, global_sums, same_everywhere,
                          sync_buffers)
from .config import check_engine_settings, to_dict
from .context import Context, Hook, StopRequested, stop_on_interrupt
from .device import resolve_device, resolve_precision, to_device
from .evaluate import autocast
from .logger import RunLogger, progress
from .tracking import tracking_hooks
from .metadata import check_position
from .multi import Updates, build_step
from .optim import build_optimizer, scaled_lr
from .resume import check_steps_left, resume_changes, resume_command, store_config
from .rundir import hold_run_dir
from .schedules import ErrorGatedWarmup, apply_lr, lr_at
from .setup import load_run_config, new_run_dir
from .task import Task, task_for

GATE_WINDOW = 50  # steps between updates of the error-gated warm-up (one host sync each)


class TrainingDiverged(ResnetsError):
    """The loss became NaN or infinite."""


def train(cfg: Any, resume_dir: str | os.PathLike | None = None,
          hooks: Sequence[Hook] = (), rank: int = 0, world_size: int = 1,
          wrap_model=None, reenter: bool = False, task: Task | None = None) -> dict:
    """Train as ``cfg`` says; returns the summary (also written to ``summary.json``).

    ``task`` defaults to the task registered for ``cfg``'s class. A new run gets a new run
    directory (``reenter``: the existing one of ``cfg``, for processes that torchrun restarted
    before their first checkpoint); ``resume_dir`` continues that run with the changes the
    task allows (:mod:`resnets.train.resume`). Rank 0 holds the run directory's lock until
    the end.
    """
    task = task or task_for(cfg)
    check_run(task, cfg, resuming=bool(resume_dir))  # before the data is read
    # The run's config.json records the precision that `auto` picked on this hardware.
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, resolve_device(cfg.device)))
    changes = {}
    if resume_dir:  # so does a refused change
        changes = resume_changes(load_run_config(resume_dir, type(cfg)), cfg,
                                 task.resume_settings)
    run_dir = open_run_dir(task, cfg, resume_dir, rank == 0, reenter)
    with (hold_run_dir(run_dir, discard_unused=not resume_dir) if rank == 0
          else contextlib.nullcontext()):
        return _train(task, cfg, run_dir, bool(resume_dir), changes, hooks, rank, world_size,
                      wrap_model)


def check_run(task: Task, cfg: Any, resuming: bool) -> None:
    """Refuse settings the engine or ``task`` cannot run, and a device that is not here."""
    check_engine_settings(cfg)
    check_averaging(cfg)
    if cfg.schedule.warmup_until_error and not task.counts_errors:
        raise ResnetsError(f"schedule.warmup_until_error gates on the training error, which "
                           f"the {task.name} task does not count; set it to 0")
    resolve_device(cfg.device)
    task.check(cfg, resuming)


def open_run_dir(task: Task, cfg: Any, resume_dir, is_main: bool, reenter: bool) -> Path:
    """The run directory, checked writable; rank 0 makes a new one and tells the others."""
    if resume_dir:
        if is_main:
            check_writable(resume_dir, create=False)
        return Path(resume_dir)
    # Rank 0 names the run directory: a name made of the time may differ between processes.
    text = ""
    if is_main:
        try:
            text = str(new_run_dir(cfg, task.run_name(cfg), reenter))
        except ResnetsError as exc:
            broadcast_text("\0" + str(exc))  # the others stop with the same line
            raise
    text = broadcast_text(text)
    if text.startswith("\0"):
        raise ResnetsError(text[1:])
    return Path(text)


def _train(task: Task, cfg: Any, run_dir: Path, resuming: bool, changes: dict,
           hooks: Sequence[Hook], rank: int, world_size: int, wrap_model) -> dict:
    device = resolve_device(cfg.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # the current device: its random state is checkpointed
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(cfg.seed)
    trackers = tracking_hooks(cfg)  # before the data: a missing library fails at once
    peak_lr = scaled_lr(cfg.optim.lr, cfg.batch_size, cfg.optim.scale_lr_with_batch)
    data = task.build_data(cfg, device, rank, world_size)
    # A resumed run's weights come from its checkpoint, not from a pretrained file again.
    model = task.build_model(cfg, data, device, load_pretrained=not resuming)
    o = cfg.optim
    optimizer = build_optimizer(task.optimized_module(model), lr=peak_lr, momentum=o.momentum,
                                weight_decay=o.weight_decay, nesterov=o.nesterov,
                                decay_norm_and_bias=o.decay_norm_and_bias,
                                backbone_lr_scale=o.backbone_lr_scale, name=o.name)
    gate = ErrorGatedWarmup.from_config(cfg.schedule)
    hooks = [*trackers, *task.hooks(cfg, data), *hooks]
    is_main = rank == 0
    ckpts = CheckpointManager(run_dir)
    updates = Updates.for_task(task, cfg, model, device, world_size)  # None: one optimiser
    ctx = Context(cfg, model, optimizer, data, run_dir, device, is_main=is_main,
                  world_size=world_size, peak_lr=peak_lr, task=task, best=task.initial_best(),
                  step_fn=build_step(task, cfg, data, updates), updates=updates,
                  scaler=torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16"))
    steps_per_epoch = _steps_per_epoch(data.train, o.accum_steps)
    total_steps = cfg.iterations or cfg.epochs * steps_per_epoch
    if updates:
        updates.bind(ctx, steps_per_epoch, total_steps)
    epochs = math.ceil(total_steps / steps_per_epoch)
    if resuming:
        state = ckpts.load_latest()
        if state is None:
            raise CheckpointError(f"no checkpoint to resume from in {str(run_dir)!r}")
        _restore(ctx, state, gate, hooks)  # checks the checkpoint's metadata first
        check_steps_left(run_dir, ctx.step, total_steps)  # before it says it resumed
        if is_main:
            print(f"resumed {run_dir} at step {ctx.step} (epoch {ctx.epoch + 1})", flush=True)
        # An epoch cut short by `iterations` counts as done: a longer run goes on in the next.
        epochs = max(epochs, ctx.epoch + (ctx.step < total_steps))
    same_everywhere(ctx.step, "the step to start from")
    if is_main and (changes or not resuming):  # a resume's changes hold for the next one
        store_config(run_dir, cfg)
        if changes:
            print("resume changes " + " ".join(f"{k}={v}" for k, v in changes.items()))
    if data.skipped and is_main:
        write_text_atomic(run_dir / "skipped.txt", "\n".join(data.skipped) + "\n")
        print(f"skipped {len(data.skipped)} unreadable files (see {run_dir / 'skipped.txt'})")
    logger = RunLogger(run_dir, enabled=is_main)
    if logger.jsonl_path.exists():  # rows logged after the checkpoint come again
        logger.truncate_after(ctx.step)
    net = wrap_model(model) if wrap_model else model
    ctx.ddp = net if wrap_model else None  # its no_sync() skips all-reduce while accumulating
    if cfg.compile:
        net = torch.compile(net)
    # After the wrap, so that SWA's copy normalises as the live model does (sync_bn: over the
    # global batch) when its BatchNorm statistics are re-estimated.
    averages = WeightAverages(cfg, model, epochs)
    if resuming:
        averages.load_state_dict(state)

    def checkpoint_state(sums: dict) -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                **averages.state_dict(), "optimizers": updates.state_dict() if updates else None,
                "gate": gate.state_dict() if gate else None,
                "scaler": ctx.scaler.state_dict() if ctx.scaler.is_enabled() else None,
                "hooks": [h.state_dict() for h in hooks], "rng": capture_rng_state(),
                "step": ctx.step, "epoch": ctx.epoch, "position": ctx.position,
                "sums": sums, "best": ctx.best, "task": task.name, "config": to_dict(cfg),
                **task.metadata(cfg, data)}

    def save(best: bool = False) -> None:
        _check_finite(ctx, weights=True)  # never replace a good checkpoint with a diverged one
        sums, failure = global_sums(ctx.sums), None
        if is_main:
            try:
                state = checkpoint_state(sums)
                ckpts.save_last(state)
                if best:
                    ckpts.save_best(state)
            except CheckpointError as exc:
                failure = exc
        if any_rank(failure is not None)[0]:  # every process stops, not only rank 0
            raise failure or CheckpointError("rank 0 could not write the checkpoint (it "
                                             "printed why); stopping")

    for h in hooks:
        h.on_train_start(ctx)
    started = time.perf_counter()
    with stop_on_interrupt(ctx):
        try:
            while ctx.epoch < epochs and ctx.step < total_steps:
                row = _run_epoch(ctx, net, averages, gate, hooks, epochs, total_steps, save)
                improved = bool(task.monitor) and task.is_better(row, ctx.best)
                if improved:
                    ctx.best = row[task.monitor]
                logger.log(row)
                for h in hooks:
                    h.on_epoch_end(ctx, row)
                ctx.epoch += 1
                ctx.position = 0
                ctx.sums = {}
                save(best=improved)
        except StopRequested:
            save()
            _stop_message(ctx, "checkpoint saved at this step")
        except KeyboardInterrupt:
            _stop_message(ctx, ckpts.kept_note())

    if is_main and averages.swa_ready:  # the averaged weights, BN statistics re-estimated
        swa = averages.averaged_checkpoint(checkpoint_state({}))
        print(f"SWA weights: {save_checkpoint(run_dir / 'swa.pt', swa, keep_previous=False)}")
    rows = logger.rows() if is_main else []
    common = {"run_dir": str(run_dir), "steps": ctx.step, "epochs": ctx.epoch,
              "train_seconds": time.perf_counter() - started,
              "skipped_files": len(data.skipped)}
    summary = task.summary(cfg, common, rows[-1] if rows else {}, ctx.best)
    for h in hooks:
        h.on_train_end(ctx, summary)
    if is_main:
        write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        logger.plot()
    logger.close()
    getattr(data.train, "close", lambda: None)()  # kept loader workers end with the run
    return summary


def _steps_per_epoch(train_batches, accum_steps: int) -> int:
    """Optimiser steps per epoch: ``accum_steps`` batches each (a remainder is left out)."""
    steps = len(train_batches) // accum_steps
    if steps == 0:
        raise ResnetsError(f"optim.accum_steps={accum_steps} is more than the "
                           f"{len(train_batches)} batches of an epoch; lower it")
    return steps


def _run_epoch(ctx: Context, net, averages: WeightAverages, gate, hooks, epochs: int,
               total_steps: int, save) -> dict:
    """One pass over the training batches (from step ``ctx.position`` of the epoch on), then
    evaluation. Each optimiser step adds up the gradients of ``optim.accum_steps`` batches."""
    cfg, optimizer, scaler = ctx.cfg, ctx.optimizer, ctx.scaler
    accum = cfg.optim.accum_steps
    train_batches = ctx.data.train
    steps_per_epoch = _steps_per_epoch(train_batches, accum)
    train_batches.set_epoch(ctx.epoch, start=ctx.position * accum)
    net.train()
    t_epoch = time.perf_counter()
    batches = progress(itertools.islice(train_batches, (steps_per_epoch - ctx.position) * accum),
                       (steps_per_epoch - ctx.position) * accum,
                       f"epoch {ctx.epoch + 1}/{epochs}", enabled=ctx.is_main)
    for index, batch in enumerate(batches):
        last_of_step = (index + 1) % accum == 0
        if index % accum == 0:
            optimizer.zero_grad(set_to_none=True)
        # While gradients accumulate, the processes need not exchange them (DDP's no_sync).
        quiet = ctx.ddp.no_sync() if ctx.ddp and not last_of_step else contextlib.nullcontext()
        with quiet:
            with autocast(ctx.device, cfg.precision):
                out = ctx.step_fn(net, batch, ctx.device)
            loss = out.loss / accum if accum > 1 else out.loss
            scaler.scale(loss).backward()
        for key, value in out.sums.items():  # on the device: no host sync per step
            ctx.sums[key] = ctx.sums.get(key, 0) + value
        ctx.loss = out.loss
        if not last_of_step:
            continue
        scaler.unscale_(optimizer)  # hooks and clipping see the true gradients
        for h in hooks:
            h.after_backward(ctx)
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(ctx.task.optimized_module(ctx.model).parameters(),
                                           cfg.optim.grad_clip)
        lr = lr_at(ctx.step, cfg.schedule, steps_per_epoch, total_steps, ctx.peak_lr)
        lr = averages.lr(gate.factor_or_lr(lr) if gate else lr, ctx.epoch)
        apply_lr(optimizer, lr)
        scaler.step(optimizer)  # fp16: skipped when the scaled gradients overflowed
        scaler.update()
        averages.after_step(ctx.model)
        ctx.step += 1
        ctx.position += 1
        if gate and ctx.step % GATE_WINDOW == 0:
            _update_gate(ctx, gate)
        for h in hooks:
            h.on_step_end(ctx)
        # Processes may only stop together, so several of them stop at a check.
        stop = ctx.stop_requested and ctx.world_size == 1
        if ctx.device.type == "cpu" or ctx.step % GATE_WINDOW == 0:
            stop = _check_finite(ctx)
        if cfg.checkpoint_every and ctx.step % cfg.checkpoint_every == 0:
            save()
        if stop:
            raise StopRequested
        if ctx.step >= total_steps:
            break
    _check_finite(ctx, weights=True)
    averages.end_epoch(ctx.model, ctx.epoch)
    return _end_epoch(ctx, averages, epochs, total_steps, time.perf_counter() - t_epoch)


def _update_gate(ctx: Context, gate: ErrorGatedWarmup) -> None:
    """The error-gated warm-up sees the training error of the last GATE_WINDOW steps (all
    processes), not the epoch's average."""
    window = ctx.sums.pop("window", (0, 0))
    correct, seen = all_sum(ctx.sums["correct"] - window[0], ctx.sums["seen"] - window[1])
    gate.update(1 - correct / max(seen, 1))
    ctx.sums["window"] = (ctx.sums["correct"], ctx.sums["seen"])


def _stop_message(ctx: Context, what: str) -> None:
    if ctx.is_main:
        # Every setting the run needs is in its config.json, changes of resumes included.
        command = resume_command(ctx.task.train_command(ctx.cfg),
                                 ctx.task.resume_dir(ctx.run_dir))
        then = (f"Resume with:\n  {command}" if CheckpointManager(ctx.run_dir).has_checkpoint()
                else f"No checkpoint was written yet: start a new run (another --name, or "
                     f"delete {shlex.quote(str(ctx.run_dir))} first).")
        print(f"\ninterrupted at step {ctx.step}; {what}. {then}", flush=True)
    raise SystemExit(130)


def _check_finite(ctx: Context, weights: bool = False) -> bool:
    """Stop on a NaN/Inf loss (or, before a checkpoint, NaN/Inf weights) in any process.

    Returns whether any process was asked to stop (all processes call it at the same step).
    """
    bad = ctx.loss is not None and not torch.isfinite(ctx.loss).item()
    if weights and not bad:
        bad = not all(torch.isfinite(p).all().item() for p in ctx.model.parameters())
    any_bad, stop = any_rank(bad, ctx.stop_requested)
    if any_bad:
        loss = f"loss {ctx.loss.item()}" if bad and ctx.loss is not None else "another process"
        raise TrainingDiverged(
            f"training diverged ({loss}) at step {ctx.step}; "
            f"{CheckpointManager(ctx.run_dir).kept_note()}; lower optim.lr or set "
            "optim.grad_clip")
    return stop


def _end_epoch(ctx: Context, averages: WeightAverages, epochs: int, total_steps: int,
               seconds: float) -> dict:
    cfg, task, sums = ctx.cfg, ctx.task, global_sums(ctx.sums)
    row = {"epoch": ctx.epoch + 1, "step": ctx.step,
           "lr": ctx.optimizer.param_groups[0]["lr"], **task.train_metrics(sums),
           "images_per_second": float(sums.get("seen", 0)) / max(seconds, 1e-9)}
    last = ctx.epoch + 1 >= epochs or ctx.step >= total_steps
    if last or (cfg.eval_every and (ctx.epoch + 1) % cfg.eval_every == 0):
        model = averages.for_evaluation(ctx)
        sync_buffers(model)  # each process evaluates its share of a split with one model
        row.update(task.evaluate(model, ctx.data, cfg, ctx.device, ctx.is_main))
    if ctx.is_main:
        print(task.progress_line(row, epochs), flush=True)
    return row


def _restore(ctx: Context, state: dict, gate, hooks) -> None:
    where = f"the last checkpoint in {str(ctx.run_dir)!r}"
    ctx.task.check_checkpoint(ctx.cfg, state, ctx.data, where)
    check_position(state, where, _steps_per_epoch(ctx.data.train, ctx.cfg.optim.accum_steps))
    ctx.task.check_weights(ctx.model, state, ctx.data, where)
    ctx.model.load_state_dict(state["model"])
    ctx.optimizer.load_state_dict(state["optimizer"])
    if ctx.updates:
        ctx.updates.load_state_dict(state.get("optimizers"), where)
    if gate and state.get("gate"):
        gate.load_state_dict(state["gate"])
    if ctx.scaler.is_enabled() and state.get("scaler"):
        ctx.scaler.load_state_dict(state["scaler"])
    for h, s in zip(hooks, state.get("hooks", [])):
        h.load_state_dict(s)
    ctx.step, ctx.epoch, ctx.position = state["step"], state["epoch"], state["position"]
    ctx.best = state["best"]
    # The saved sums are those of all processes: rank 0 carries them on, the others start at 0.
    sums = state["sums"] if ctx.is_main else {k: (0, 0) if k == "window" else 0
                                              for k in state["sums"]}
    ctx.sums = {k: to_device(v, ctx.device) for k, v in sums.items()}
    restore_rng_state(state["rng"])
