"""Quantization-aware training (``quant.qat=true``) for every classification run.

The model is built as usual (``model.pretrained=RUN_DIR`` loads the fp32 run to fine-tune),
then exported in training mode with int8 fake quantization inserted by the x86 quantizer
(:func:`resnets.models.quantize.prepare_qat`): the engine trains, evaluates, checkpoints
and resumes it like any model (its state dict holds the weights and the learned
quantization ranges). ``resnets quantize RUN_DIR`` converts the trained run to int8 without
calibration, since the ranges were learned.
"""

from __future__ import annotations

import torch

from ..errors import ResnetsError
from ..models import model_info
from ..models.quantize import prepare_qat, require_torchao


def check_qat(cfg) -> None:
    """What ``quant.qat`` cannot go with, in one line, before any work."""
    require_torchao()
    if model_info(cfg.model.name).modality == "text":
        raise ResnetsError("quant.qat quantizes convolutions over images and audio; text "
                           "models embed tokens first: drop quant.qat")
    for key, value in (("compile", cfg.compile), ("sync_bn", cfg.sync_bn),
                       ("model.grad_checkpointing", cfg.model.grad_checkpointing),
                       ("model.freeze_stages", cfg.model.freeze_stages)):
        if value:  # the exported graph is no module tree these act on
            raise ResnetsError(f"quant.qat trains an exported graph, which {key} cannot "
                               f"change; drop {key}")


def input_shape(model_name: str, in_chans: int, image_size: int) -> tuple[int, ...]:
    """One input of the model, without the batch: the registered shape (audio) or the run's
    images."""
    return tuple(model_info(model_name).input_shape or (in_chans, image_size, image_size))


def qat_model(model: torch.nn.Module, cfg, in_chans: int, image_size: int
              ) -> torch.fx.GraphModule:
    """``model`` (built from ``cfg``) with fake quantization, ready to train."""
    shape = input_shape(cfg.model.name, in_chans, image_size)
    device = next(model.parameters()).device
    fmt = torch.channels_last if cfg.channels_last and len(shape) == 3 else None
    example = torch.zeros(2, *shape, device=device)
    if fmt is not None:
        example = example.contiguous(memory_format=fmt)
    return prepare_qat(model, example)
