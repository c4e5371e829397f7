"""Static int8 quantization through PyTorch 2's export path (PT2E).

torch 2.14 no longer ships ``torch.ao.quantization.quantize_pt2e``: the PT2E flow moved to the
torchao package (``pip install 'resnets[quantize]'``), which this module wraps:

* :func:`prepare_ptq` exports an eval-mode model (``torch.export``, batch dimension dynamic)
  and inserts the observers of the x86 quantizer (``X86InductorQuantizer``: int8 weights per
  output channel, uint8 activations per tensor); running calibration images through it
  records the activation ranges; :func:`prepare_qat` does the same for training, with fake
  quantization that the loss sees (quantization-aware training);
* :func:`convert` turns either into the quantized graph (int8 weights, quantize/dequantize
  around each quantized op): the reference representation, which :func:`save_quantized`
  writes as a torch.export program (``.pt2``, loaded back without unpickling);
* :class:`Int8Model` runs a loaded program fast: per input shape, torchao's
  ``lower_pt2e_quantized_to_x86`` replaces each dequantize -> conv -> quantize pattern by
  oneDNN's int8 convolution (no C++ compiler needed), once, on first use of that shape.
"""

from __future__ import annotations

import os
import types
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ResnetsError
from ..files import atomic_path

MAX_BATCH = 1024  # the largest batch the exported programs admit


def require_torchao() -> None:
    """One line naming the install when torchao (the PT2E quantization flow) is missing."""
    try:
        import torchao.quantization.pt2e  # noqa: F401
    except ImportError:
        raise ResnetsError("int8 quantization needs torchao (torch 2.14's PT2E quantization "
                           "flow): pip install 'resnets[quantize]'") from None


def _batch_dynamic() -> tuple[dict, ...]:
    return ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)


def _quantizer(qat: bool):
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    quantizer = x86.X86InductorQuantizer()
    quantizer.set_global(x86.get_default_x86_inductor_quantization_config(is_qat=qat))
    return quantizer


def _example(example: torch.Tensor) -> torch.Tensor:
    """Export traces a batch of two or more: a batch of one would specialise the dimension."""
    return example if len(example) > 1 else example.expand(2, *example.shape[1:]).clone()


def prepare_ptq(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """``model`` (eval mode, unchanged) exported and observed for post-training calibration:
    call it on calibration batches, then :func:`convert`."""
    require_torchao()
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    program = torch.export.export(model.eval(), (_example(example),),
                                  dynamic_shapes=_batch_dynamic())
    return prepare_pt2e(program.module(), _quantizer(qat=False))


def prepare_qat(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """``model`` exported in training mode with fake quantization inserted, to fine-tune;
    ``train()``/``eval()`` on the result switch its BatchNorms and dropout as on the model."""
    require_torchao()
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    program = torch.export.export(model.train(), (_example(example),),
                                  dynamic_shapes=_batch_dynamic())
    prepared = prepare_qat_pt2e(program.module(), _quantizer(qat=True))
    prepared.train = types.MethodType(_qat_train, prepared)
    prepared.eval = types.MethodType(lambda self: self.train(False), prepared)
    _settle_shapes(prepared, _example(example))
    return prepared


@torch.no_grad()
def _settle_shapes(prepared: torch.fx.GraphModule, example: torch.Tensor) -> None:
    """Give the per-channel quantization parameters their final shapes now.

    They start as placeholders of one element and take one per channel at the first
    forward pass, so a checkpoint's state dict would not load into a fresh graph (resume,
    ``resnets quantize``). One pass on ``example`` settles them; every tensor whose shape it
    did not change (BN statistics, per-tensor activation ranges) is put back, so what is left
    of that pass is the weights' per-channel ranges, which the first training step observes
    anyway from the same weights.
    """
    before = {k: v.clone() for k, v in prepared.state_dict().items()}
    prepared(example)
    for key, tensor in prepared.state_dict().items():
        if tensor.shape == before[key].shape:
            tensor.copy_(before[key])


def _qat_train(self: torch.fx.GraphModule, mode: bool = True) -> torch.fx.GraphModule:
    """``train(mode)`` of a QAT graph: the exported graph fixed BatchNorm and dropout to
    training mode, so their ops are swapped; the observers learn activation ranges in
    training only (evaluation would otherwise move them, and the next evaluation differ)."""
    from torchao.quantization.pt2e import (move_exported_model_to_eval,
                                           move_exported_model_to_train)
    from torchao.quantization.pt2e.fake_quantize import disable_observer, enable_observer

    (move_exported_model_to_train if mode else move_exported_model_to_eval)(self)
    nn.Module.train(self, mode)
    self.apply(enable_observer if mode else disable_observer)
    return self


def convert(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """The int8 graph of a calibrated (or QAT-trained) prepared model, in eval mode."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    move_exported_model_to_eval(prepared)
    converted = convert_pt2e(prepared)
    _drop_unused_tensors(converted)
    return converted


def _drop_unused_tensors(graph: torch.fx.GraphModule) -> None:
    """Remove the fp32 weights that conversion replaced by int8 constants: the graph no
    longer reads them, but they would still be saved (and the file outweigh the fp32 one)."""
    used = {node.target for node in graph.graph.nodes if node.op == "get_attr"}
    named = [*graph.named_parameters(), *graph.named_buffers()]
    for name in [name for name, _ in named if name not in used]:
        owner, _, attr = name.rpartition(".")
        delattr(graph.get_submodule(owner) if owner else graph, attr)


def save_quantized(converted: torch.fx.GraphModule, example: torch.Tensor,
                   path: str | os.PathLike) -> Path:
    """Write the int8 graph as a torch.export program (``.pt2``), batch dimension dynamic."""
    path = Path(path)
    program = torch.export.export(converted, (_example(example),),
                                  dynamic_shapes=_batch_dynamic())
    with atomic_path(path) as tmp:
        torch.export.save(program, str(tmp))
    return path


def load_quantized(path: str | os.PathLike) -> Int8Model:
    """An int8 program written by :func:`save_quantized`, ready to run."""
    require_torchao()
    import torchao.quantization.pt2e  # noqa: F401 (registers the quantize ops it refers to)

    if not Path(path).is_file():
        raise ResnetsError(f"int8 model {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns of weights off the CPU: there are none
            warnings.filterwarnings("ignore", "No complete tensor found")
            program = torch.export.load(str(path))
    except Exception as exc:  # a damaged or foreign file: one line, not a traceback
        raise ResnetsError(f"{str(path)!r} is not a torch.export program ({exc})") from None
    return Int8Model(program.module())


class Int8Model(nn.Module):
    """Callable int8 model: images in, float32 logits out.

    The reference graph computes in float between quantize/dequantize pairs (slow); the
    first call with a new input shape lowers it to oneDNN's int8 kernels for that shape
    (seconds for a ResNet-20), later calls of that shape run the lowered graph.
    """

    def __init__(self, reference: torch.fx.GraphModule) -> None:
        super().__init__()
        self.reference = reference
        self.lowered: dict[tuple[int, ...], nn.Module] = {}

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        if shape not in self.lowered:
            from torchao.quantization.pt2e.lowering import lower_pt2e_quantized_to_x86

            self.lowered[shape] = lower_pt2e_quantized_to_x86(self.reference, (x,))
        return self.lowered[shape](x.contiguous()).float()
