"""Deployment: ONNX export and an ONNX Runtime inference path.

``export_onnx`` writes a model with a dynamic batch dimension (optionally with BatchNorm
folded first); ``OnnxModel`` runs it with onnxruntime behind the same call signature as the
PyTorch model (a float tensor in, logits out), so benchmarks and parity tests treat both alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .errors import ResnetsError
from .models.fuse import fuse_conv_bn


def export_onnx(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...],
                fuse: bool = True, max_batch: int = 1024) -> Path:
    """Export ``model`` (eval mode) to ONNX with a dynamic batch dimension.

    ``input_shape`` is one example's (C, H, W). With ``fuse`` the BatchNorms are folded into
    the convolutions first (onnxruntime would fold most of them too; doing it here makes the
    exported graph smaller and the same on every runtime).
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ResnetsError("ONNX export needs the onnx packages: pip install 'resnets[onnx]'"
                           ) from None
    if len(input_shape) != 3:
        raise ResnetsError(f"input_shape is one image's (C, H, W), got {input_shape}")
    model = fuse_conv_bn(model) if fuse else model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.randn(2, *input_shape, device=next(model.parameters()).device)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    torch.onnx.export(model, (example,), str(path), input_names=["images"],
                      output_names=["logits"], dynamic_shapes=({0: batch},))
    return path


class OnnxModel:
    """Callable ONNX Runtime session: ``OnnxModel(path)(images) -> logits`` (CPU tensors)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ResnetsError("the ONNX Runtime path needs onnxruntime: "
                               "pip install 'resnets[onnx]'") from None
        if not Path(path).is_file():
            raise ResnetsError(f"ONNX file {str(path)!r} does not exist")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().cpu().contiguous().numpy()
        (logits,) = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(logits)
