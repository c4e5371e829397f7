"""``resnets quantize RUN_DIR | --model NAME --weights W``: a static int8 model and its report.

The torch backend runs PyTorch's PT2E flow (:mod:`resnets.models.quantize`): the model is
exported, observed on ``--calibration`` training images (a ``quant.qat=true`` run needs no
calibration: its ranges were learned), converted and written as ``model-int8.pt2``; the
file is loaded back and that copy is measured. The onnxruntime backend exports the fp32 model
to ONNX (BN folded) and quantizes it with ONNX Runtime's ``quantize_static``. The report
(``quantize.json`` and a printed table) holds, side by side with fp32 eager: test accuracy,
top-1 agreement with fp32, size on disk, batch-1 latency and batch-8 throughput, the threads
and the CPU. Published weights have no data here: they calibrate on random images and their
agreement is measured on random images too (said in the report).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ResnetsError
from ..files import check_writable, write_text_atomic
from ..machine import machine
from ..models import quantize as int8
from . import measure

BACKENDS = ("torch", "onnxruntime")
EVAL_BATCH = 8  # the batch every model is evaluated at (one int8 lowering serves it all)


@dataclass
class Subject:
    """What is quantized: the model (eval mode) and the images it is calibrated and tested
    on; ``labels`` is None where there is no test split (published weights)."""

    model: nn.Module
    name: str
    shape: tuple[int, ...]
    calibration: list[torch.Tensor]  # batches; empty for a QAT run
    test: list[torch.Tensor]
    labels: torch.Tensor | None
    qat: bool = False


def from_run(path: str, images: int) -> Subject:
    """A run directory or checkpoint: its model, ``images`` training images without
    augmentation for calibration, its test split."""
    from ..train.config import apply_overrides
    from ..train.inference import load_trained
    from ..train.pipeline import build_pipeline
    from ..train.qat import input_shape

    model, state, cfg = load_trained(path, torch.device("cpu"))
    shape = input_shape(cfg.model.name, state["in_chans"], state["image_size"])
    if model_modality(cfg.model.name) == "text":
        raise ResnetsError(f"{cfg.model.name} embeds tokens: int8 quantization here is for "
                           "image and audio models")
    plain = apply_overrides(cfg, {"data.augment": "none", "data.policy": "none",
                                  "data.erasing": "0", "data.repeated_aug": "1",
                                  "device": "cpu"})
    pipe = build_pipeline(plain, torch.device("cpu"))
    calibration = [] if cfg.quant.qat else _take(pipe.train, images)
    test, labels = [], []
    for x, y in pipe.test:
        test.append(x.float().contiguous())
        labels.append(y)
    return Subject(model, cfg.model.name, shape, calibration, test, torch.cat(labels),
                   qat=cfg.quant.qat)


def from_weights(name: str, weights: str, images: int) -> Subject:
    """A registry model with published weights or a weights file, on random images."""
    from ..export import from_weights as load

    item = load(name, weights)
    if model_modality(name) == "text":
        raise ResnetsError(f"{name} embeds tokens: int8 quantization here is for image and "
                           "audio models")
    generator = torch.Generator().manual_seed(0)
    random = torch.randn(images, *item.input_shape, generator=generator)
    return Subject(item.model, name, tuple(item.input_shape), list(random.split(EVAL_BATCH)),
                   list(random.split(EVAL_BATCH)), None)


def model_modality(name: str) -> str:
    from ..models import model_info

    return model_info(name).modality


def _take(batches, images: int) -> list[torch.Tensor]:
    out, seen = [], 0
    for batch in batches:
        x = batch[0].float().contiguous()
        out.append(x[:images - seen])
        seen += len(out[-1])
        if seen >= images:
            break
    return out


def check_request(source: str | None, model: str | None, weights: str | None, backend: str,
                  calibration: int, out: str | None) -> Path:
    """Every mistake in the request, in one line, before any model is loaded; the output
    folder (created, and probed for writing)."""
    if bool(source) == bool(model):
        raise ResnetsError("quantize a run (RUN_DIR or checkpoint) or --model NAME "
                           "--weights W, one of them")
    if model and not weights:
        raise ResnetsError("--model needs --weights: imagenet, imagenet:v2 or a weights file")
    if backend not in BACKENDS:
        raise ResnetsError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if calibration < 1:
        raise ResnetsError("--calibration must be at least 1 image")
    if model:
        from ..models import model_info

        model_info(model)  # an unknown name fails here, naming the close ones
        if not out:
            raise ResnetsError("--model needs --out DIR: the folder for the int8 model")
    else:
        from ..train.inference import read_trained_state

        state = read_trained_state(source)  # no run: one line now, not after the imports
        config = state.get("config") if isinstance(state.get("config"), dict) else {}
        if backend != "torch" and (config.get("quant") or {}).get("qat"):
            raise ResnetsError("a quant.qat run converts with its learned ranges: use "
                               "--backend torch")
    if backend == "torch":
        int8.require_torchao()
    else:
        from .onnxrt import require_onnxruntime

        require_onnxruntime()
    folder = Path(out) if out else _run_folder(source) / "int8"
    return check_writable(folder)


def _run_folder(source: str) -> Path:
    path = Path(source)
    return path if path.is_dir() else path.parent


def quantize(subject: Subject, backend: str, folder: Path, threads: int,
             seconds: float) -> dict:
    """Quantize ``subject`` with ``backend`` into ``folder``; measure every row; the report."""
    torch.set_num_threads(threads)
    example = torch.zeros(2, *subject.shape)
    reference = "qat fake-int8 eager" if subject.qat else "fp32 eager"
    models: dict[str, measure.Model] = {reference: subject.model.eval()}
    files: dict[str, Path | None] = {reference: None}
    if backend == "torch":
        if not subject.qat:
            files[reference] = _save_program(subject.model, example, folder / "model-fp32.pt2")
        prepared = subject.model if subject.qat else int8.prepare_ptq(subject.model, example)
        with torch.no_grad():
            for batch in subject.calibration:
                prepared(batch)
        path = int8.save_quantized(int8.convert(prepared), example, folder / "model-int8.pt2")
        models["int8 torch"], files["int8 torch"] = int8.load_quantized(path), path
    else:
        if subject.qat:
            raise ResnetsError("a quant.qat run converts with its learned ranges: use "
                               "--backend torch")  # checked first by check_request
        from ..export import OnnxModel, export_onnx
        from .onnxrt import quantize_onnx

        fp32 = export_onnx(subject.model, folder / "model-fp32.onnx", subject.shape)
        path = quantize_onnx(fp32, folder / "model-int8.onnx", subject.calibration)
        models["fp32 onnxruntime"], files["fp32 onnxruntime"] = OnnxModel(fp32, threads), fp32
        models["int8 onnxruntime"], files["int8 onnxruntime"] = OnnxModel(path, threads), path
    rows = measure_rows(models, files, subject, seconds)
    report = {"model": subject.name, "backend": backend, "input_shape": list(subject.shape),
              "calibration_images": sum(len(b) for b in subject.calibration),
              "test_images": sum(len(b) for b in subject.test),
              "test_data": "test split" if subject.labels is not None else "random images",
              "qat": subject.qat, "threads": threads, "machine": machine("cpu"),
              "reference": reference, "rows": rows,
              "files": {k: str(v) for k, v in files.items() if v}}
    write_text_atomic(folder / "quantize.json", json.dumps(report, indent=2) + "\n")
    return report


def measure_rows(models: dict[str, measure.Model], files: dict[str, Path | None],
                 subject: Subject, seconds: float) -> dict[str, dict]:
    """Accuracy (when labelled), agreement with the first model, size and speed of each."""
    rows: dict[str, dict] = {}
    first = None
    for label, model in models.items():
        predicted = measure.predictions(model, subject.test, EVAL_BATCH)
        first = predicted if first is None else first
        row = {"agreement": measure.agreement(predicted, first),
               "accuracy": (measure.accuracy(predicted, subject.labels)
                            if subject.labels is not None else None),
               "size_mb": measure.size_mb(files[label]) if files.get(label) else None}
        rows[label] = {**row, **measure.speed(model, subject.shape, seconds, EVAL_BATCH)}
    measure.add_speedups(rows, next(iter(rows)))
    return rows


def _save_program(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """The fp32 model as a torch.export program: the like-for-like size of the int8 one."""
    from ..export import WRITERS

    WRITERS["exported-program"](model, example, path)
    return path


def report_lines(report: dict, folder: Path) -> list[str]:
    m = report["machine"]
    lines = [f"{report['model']} int8 ({report['backend']}), input "
             f"{'x'.join(map(str, report['input_shape']))}, {report['threads']} thread(s) on "
             f"{m['processor'] or 'this CPU'}; accuracy and agreement on "
             f"{report['test_images']} images ({report['test_data']})",
             *measure.table(report["rows"])]
    lines += [f"wrote {path}" for path in report["files"].values()]
    return lines + [f"wrote {folder / 'quantize.json'}"]
