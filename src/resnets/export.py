"""Deployment: ``resnets export`` (ONNX, torch.export programs, AOTInductor packages) and an
ONNX Runtime inference path.

``export_onnx`` writes a model with a dynamic batch dimension (optionally with BatchNorm
folded first); ``OnnxModel`` runs it with onnxruntime behind the same call signature as the
PyTorch model (a float tensor in, logits out), so benchmarks and parity tests treat both alike.

``export`` serves the command, in PyTorch's current deployment formats
(``torch.jit.script`` is deprecated): ``onnx`` (``torch.onnx.export``, run by ONNX Runtime),
``exported-program`` (``torch.export.export`` saved with ``torch.export.save``, loaded back
by ``torch.export.load(path).module()``) and ``aoti`` (that program compiled ahead of time by
AOTInductor into a ``.pt2`` package for ``torch._inductor.aoti_load_package``; this needs a
C++ compiler and takes a minute). Each export is run once more on a random batch next to the
eager model and the largest absolute difference of the outputs is reported; a JSON file
beside the export records the model, the input shape, the normalisation and the class names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .errors import ResnetsError
from .files import atomic_path, check_writable, write_text_atomic
from .models.fuse import fuse_conv_bn

FORMATS = ("onnx", "exported-program", "aoti")
SUFFIXES = {"onnx": ".onnx", "exported-program": ".pt2", "aoti": ".pt2"}
MAX_BATCH = 1024  # the largest batch the dynamic dimension admits


def export_onnx(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...],
                fuse: bool = True, max_batch: int = MAX_BATCH) -> Path:
    """Export ``model`` (eval mode) to ONNX with a dynamic batch dimension.

    ``input_shape`` is one example's (C, H, W). With ``fuse`` the BatchNorms are folded into
    the convolutions first (onnxruntime would fold most of them too; doing it here makes the
    exported graph smaller and the same on every runtime).
    """
    if len(input_shape) != 3:
        raise ResnetsError(f"input_shape is one image's (C, H, W), got {input_shape}")
    model = fuse_conv_bn(model) if fuse else model.eval()
    example = torch.randn(2, *input_shape, device=next(model.parameters()).device)
    return _onnx_file(model, example, Path(path), max_batch)


def _onnx_file(model: nn.Module, example: torch.Tensor, path: Path,
               max_batch: int = MAX_BATCH) -> Path:
    """``torch.onnx.export`` of ``model`` on ``example`` into one file (weights inside),
    written atomically, its batch dimension dynamic up to ``max_batch``."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ResnetsError("ONNX export needs the onnx packages: pip install 'resnets[onnx]'"
                           ) from None
    with atomic_path(path) as tmp:
        torch.onnx.export(model, (example,), str(tmp), input_names=["images"],
                          output_names=["logits"], dynamic_shapes=_dynamic_batch(max_batch),
                          external_data=False)
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




@dataclass
class Exportable:
    """A model in eval mode and what a caller must know to feed it."""

    model: nn.Module
    name: str  # the registry name
    input_shape: tuple[int, ...]  # one input, without the batch
    mean: list[float] | None  # normalisation of 0..1 inputs; None when not known
    std: list[float] | None
    classes: list[str] | None


def export(item: Exportable, fmt: str, out: str | os.PathLike, fuse: bool = False,
           batch: int = 4) -> dict[str, Any]:
    """Write ``item`` in format ``fmt`` to ``out``, check it against eager, and write the
    sidecar ``out + ".json"``; returns the sidecar's contents."""
    if fmt not in FORMATS:
        raise ResnetsError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.suffix != SUFFIXES[fmt]:
        raise ResnetsError(f"--out {str(out)!r}: {fmt} files end in {SUFFIXES[fmt]}")
    check_writable(out.parent)
    model = fuse_conv_bn(item.model) if fuse else item.model.eval()
    example = torch.randn(batch, *item.input_shape)
    if item.input_shape and _is_token_model(item):
        example = torch.randint(0, item.input_shape[0], (batch, *item.input_shape[1:]))
    with torch.no_grad():
        eager = item.model.eval()(example)
    run = WRITERS[fmt](model, example, out)
    with torch.no_grad():
        exported = run(example)
    difference, non_finite = _difference(exported.float(), eager.float())
    record = {"format": fmt, "file": out.name, "model": item.name, "fused": fuse,
              "input_shape": list(item.input_shape), "mean": item.mean, "std": item.std,
              "classes": item.classes, "max_abs_difference": difference,
              "non_finite_outputs": non_finite,
              "checked_batch": batch, "torch": torch.__version__}
    write_text_atomic(out.with_name(out.name + ".json"), json.dumps(record, indent=2) + "\n")
    return record


def _difference(exported: torch.Tensor, eager: torch.Tensor) -> tuple[float, int]:
    """(largest |exported - eager| where both are finite, eager's non-finite outputs); an
    export that is non-finite where eager is not (or the reverse) differs by infinity."""
    finite, finite_eager = torch.isfinite(exported), torch.isfinite(eager)
    if not torch.equal(finite, finite_eager):
        return float("inf"), int((~finite_eager).sum())
    both = exported[finite] - eager[finite]
    return (both.abs().max().item() if both.numel() else 0.0), int((~finite_eager).sum())


def _is_token_model(item: Exportable) -> bool:
    from .models import model_info

    return model_info(item.name).modality == "text"


def _dynamic_batch(max_batch: int = MAX_BATCH) -> tuple[dict, ...]:
    return ({0: torch.export.Dim("batch", min=1, max=max_batch)},)


def _write_onnx(model: nn.Module, example: torch.Tensor, out: Path) -> Callable:
    return OnnxModel(_onnx_file(model, example, out))


def _program(model: nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    return torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch())


def _write_program(model: nn.Module, example: torch.Tensor, out: Path) -> Callable:
    with atomic_path(out) as tmp:
        torch.export.save(_program(model, example), str(tmp))
    return torch.export.load(str(out)).module()


def _write_aoti(model: nn.Module, example: torch.Tensor, out: Path) -> Callable:
    from torch._inductor import aoti_compile_and_package, aoti_load_package

    with atomic_path(out) as tmp:
        aoti_compile_and_package(_program(model, example), package_path=str(tmp))
    return aoti_load_package(str(out))


WRITERS = {"onnx": _write_onnx, "exported-program": _write_program, "aoti": _write_aoti}


def from_run(path: str | os.PathLike) -> Exportable:
    """The trained model of a run directory or checkpoint, with its run's normalisation."""
    from .train.inference import load_trained

    from .models import model_info

    model, state, cfg = load_trained(path, torch.device("cpu"))
    size = state["image_size"]  # audio and text models: their registered input shape
    shape = model_info(cfg.model.name).input_shape or (state["in_chans"], size, size)
    return Exportable(model, cfg.model.name, tuple(shape), list(state["mean"]) or None,
                      list(state["std"]) or None, list(state["classes"]))


def from_weights(name: str, weights: str) -> Exportable:
    """A registry model with published weights (``imagenet[:v2]``) or a weights file."""
    from .models import create_model, model_info
    from .models.pretrained import parse_weights_spec
    from .weights import load_weights

    info = model_info(name)
    shape = info.input_shape or (3, info.input_size, info.input_size)
    tag = parse_weights_spec(weights, "--weights")
    if tag is None:
        if not Path(weights).is_file():
            raise ResnetsError(f"--weights {weights!r} is neither imagenet[:v1|v2] nor a "
                               "weights file (.safetensors, .pt, .pth)")
        model = load_weights(create_model(name), weights)
        return Exportable(model.eval(), name, shape, None, None, None)
    from .data.published import resolve_data_config

    config = resolve_data_config(name, weights)  # a model without weights fails here
    model = create_model(name, pretrained=True, weights=tag)
    return Exportable(model.eval(), name, tuple(config["input_size"]), list(config["mean"]),
                      list(config["std"]), config["classes"])


def export_command(source: str | None, model: str | None, weights: str | None, fmt: str,
                   out: str, fuse: bool = False, batch: int = 4) -> list[str]:
    """``resnets export``: a run (``source``) or ``model`` with ``weights``; the lines to
    print."""
    if bool(source) == bool(model):
        raise ResnetsError("export a run (RUN_DIR or checkpoint) or --model NAME --weights W, "
                           "one of them")
    if model and not weights:
        raise ResnetsError("--model needs --weights: imagenet, imagenet:v2 or a weights file")
    if fmt != "fastest" and fmt not in FORMATS:
        raise ResnetsError(f"--format {fmt!r} is not one of fastest, {', '.join(FORMATS)}")
    item = from_run(source) if source else from_weights(model, weights)
    said = []
    if fmt == "fastest":  # the file's suffix follows the choice
        check_writable(Path(out).parent)
        choice = fastest_format(item, fuse, batch)
        fmt, out = choice.name, str(Path(out).with_suffix(SUFFIXES[choice.name]))
        said.append(choice.line(batch))
    record = export(item, fmt, out, fuse=fuse, batch=batch)
    return [*said, f"wrote {out} ({fmt}, {item.name}, input "
            f"{'x'.join(map(str, item.input_shape))}); max abs difference to eager "
            f"{record['max_abs_difference']:.3g} on a batch of {batch}", f"wrote {out}.json"]


def fastest_format(item: Exportable, fuse: bool, batch: int, cache: Path | None = None):
    """ONNX (ONNX Runtime) or a torch.export program (PyTorch), whichever runs ``item`` at
    ``batch`` faster here: measured once per machine, torch version and model, then cached
    (:mod:`resnets.fastest`)."""
    import tempfile

    from .fastest import cache_key, choose, seconds_per_call

    model = fuse_conv_bn(item.model) if fuse else item.model.eval()
    x = (torch.randint(0, item.input_shape[0], (batch, *item.input_shape[1:]))
         if _is_token_model(item) else torch.randn(batch, *item.input_shape))

    def torch_seconds() -> float:
        return seconds_per_call(model, x, 1.0)

    def onnx_seconds() -> float:
        with tempfile.TemporaryDirectory() as folder:
            runner = OnnxModel(_onnx_file(model, x, Path(folder) / "m.onnx"),
                               threads=torch.get_num_threads())  # as many as PyTorch
            return seconds_per_call(runner, x, 1.0)

    key = cache_key(item.name + ("+fused" if fuse else ""), item.input_shape, batch)
    return choose(key, {"exported-program": torch_seconds, "onnx": onnx_seconds}, cache)
