"""Building the pieces of a run: device, model, run directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ResnetsError
from ..models import create_model
from ..models.layers import group_norm
from ..readback import ReadBackError, read_json
from .config import TrainConfig, from_dict
from .device import resolve_device  # noqa: F401 (where the pieces of a run are built)
from .rundir import create_run_dir, timestamped


def build_model(cfg: TrainConfig, num_classes: int, in_chans: int,
                device: torch.device, load_pretrained: bool = True) -> torch.nn.Module:
    """The model of ``cfg`` for ``num_classes`` classes and ``in_chans`` input channels.

    ``cfg.model.pretrained`` loads a backbone (``load_pretrained=False`` skips that, for a
    model whose weights come from a checkpoint next); ``cfg.model.freeze_stages`` freezes the
    stem and the first stages (see :mod:`resnets.train.finetune`).
    """
    options: dict[str, Any] = {"drop_rate": cfg.model.drop_rate,
                               "grad_checkpointing": cfg.model.grad_checkpointing}
    if cfg.model.zero_init_residual:  # only the nets whose residual branches end in a BN
        options["zero_init_residual"] = True
    if cfg.model.shortcut:
        options["shortcut"] = cfg.model.shortcut
    if cfg.model.stem:
        options["stem"] = cfg.model.stem
    if cfg.model.norm == "group":  # per-image statistics: the same however the batch is split
        options["norm_layer"] = group_norm
    if cfg.model.depth:
        options["depth"] = cfg.model.depth
    if cfg.model.block_dropout >= 0:
        options["block_dropout"] = cfg.model.block_dropout
    if cfg.model.drop_path_rate:
        options["drop_path_rate"] = cfg.model.drop_path_rate
    if cfg.model.attn_layer:
        options.update(attn_layer=cfg.model.attn_layer, se_reduction=cfg.model.se_reduction)
    if cfg.model.branch_widths:  # a pruned network (resnets prune)
        options["branch_widths"] = cfg.model.branch_widths
    model = create_model(cfg.model.name, num_classes=num_classes, in_chans=in_chans,
                         **options)
    if cfg.model.pretrained or cfg.model.freeze_stages:
        from . import finetune

        if cfg.model.pretrained and load_pretrained:
            finetune.load_pretrained(model, cfg.model.pretrained, cfg.model.name)
        finetune.freeze_stages(model, cfg.model.freeze_stages)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def check_branch_widths(cfg: TrainConfig) -> None:
    """Refuse ``model.branch_widths`` that do not fit ``model.name``, building its shapes only
    (on the meta device: no memory, no time)."""
    with torch.device("meta"):
        build_model(cfg, max(cfg.model.num_classes, 1), 3, torch.device("meta"),
                    load_pretrained=False)


def new_run_dir(cfg: Any, stem: str, reenter: bool = False) -> Path:
    """Make and lock a new run directory for ``cfg``, named ``stem`` and the time unless
    ``cfg.run_name`` names it (see :mod:`resnets.train.rundir`)."""
    return create_run_dir(cfg.out_dir, cfg.run_name, timestamped(stem), reenter=reenter)


def load_run_config(run_dir: str | os.PathLike, cls: type = TrainConfig) -> Any:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{str(run_dir)!r} is not a run directory (no config.json)")
    fix = "the run cannot be resumed from it; start a new run"
    data = read_json(path, "run config", fix)
    try:
        return from_dict(data, f"run config {str(path)!r}", cls)
    except ResnetsError as exc:
        raise ReadBackError(f"{exc}; {fix}") from None
