"""ONNX Runtime's static int8 quantization of an exported fp32 ONNX model.

``quantize_static`` calibrates activation ranges on images a reader hands it and writes a
QDQ model (int8 weights per output channel, uint8 activations), which ONNX Runtime's CPU
provider fuses into its integer kernels.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import ResnetsError
from ..files import atomic_path


def require_onnxruntime() -> None:
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise ResnetsError("--backend onnxruntime needs onnxruntime: "
                           "pip install 'resnets[onnx]'") from None


class _Reader:
    """The calibration images as ONNX Runtime's ``CalibrationDataReader`` asks for them."""

    def __init__(self, input_name: str, batches: list[torch.Tensor]) -> None:
        self.feeds = iter([{input_name: b.contiguous().numpy()} for b in batches])

    def get_next(self):
        return next(self.feeds, None)


def quantize_onnx(fp32: str | os.PathLike, out: str | os.PathLike,
                  calibration: list[torch.Tensor]) -> Path:
    """``fp32`` (an ONNX file) quantized to int8 into ``out``, calibrated on the batches."""
    require_onnxruntime()
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]
                                ).get_inputs()[0].name
    out = Path(out)
    with atomic_path(out) as tmp:
        quantize_static(str(fp32), str(tmp), _Reader(name, calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out
