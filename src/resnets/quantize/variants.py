"""The deployment variants of one fp32 model, side by side (``benchmarks/deployment.py``):
eager, compiled, BN-folded, ONNX Runtime fp32, int8 PT2E (torch) and int8 ONNX Runtime,
each with the file it deploys as (its size on disk is part of the table)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..models import quantize as int8
from . import measure

LABELS = ("eager fp32", "compiled", "BN-folded", "onnxruntime fp32", "int8 torch",
          "int8 onnxruntime")


def deployment_variants(model: nn.Module, shape: tuple[int, ...], folder: Path,
                        calibration: list[torch.Tensor], threads: int,
                        compile: bool = True) -> tuple[dict, dict]:
    """({label: callable}, {label: file}) of every variant of ``model`` (eval mode), files
    written into ``folder``; ``compile=False`` leaves out the compiled row (minutes on a
    ResNet-50 where cores are few)."""
    from ..export import WRITERS, OnnxModel, export_onnx
    from ..models.fuse import fuse_conv_bn, optimize_for_inference
    from .onnxrt import quantize_onnx

    model = model.eval()
    example = torch.zeros(2, *shape)
    fp32_program = folder / "fp32.pt2"
    WRITERS["exported-program"](model, example, fp32_program)
    models: dict[str, measure.Model] = {"eager fp32": model}
    files: dict[str, Path] = {"eager fp32": fp32_program}
    if compile:
        models["compiled"] = optimize_for_inference(model, channels_last=False, fuse=False,
                                                    compile=True)
        files["compiled"] = fp32_program
    models["BN-folded"], files["BN-folded"] = fuse_conv_bn(model), fp32_program
    onnx = export_onnx(model, folder / "fp32.onnx", shape)
    models["onnxruntime fp32"], files["onnxruntime fp32"] = OnnxModel(onnx, threads), onnx
    prepared = int8.prepare_ptq(model, example)
    with torch.no_grad():
        for batch in calibration:
            prepared(batch)
    program = int8.save_quantized(int8.convert(prepared), example, folder / "int8.pt2")
    models["int8 torch"], files["int8 torch"] = int8.load_quantized(program), program
    quantized = quantize_onnx(onnx, folder / "int8.onnx", calibration)
    models["int8 onnxruntime"] = OnnxModel(quantized, threads)
    files["int8 onnxruntime"] = quantized
    return models, files
