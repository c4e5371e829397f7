"""Parameter and multiply-accumulate counts for the zoo, as tables for the CLI and the docs.

MACs come from PyTorch's own ``FlopCounterMode`` (which counts 2 FLOPs per multiply-add of
convolutions and matrix products; normalisation, activations, pooling and additions are not
counted, as in the papers and torchvision's model cards). Models and inputs live on the
``meta`` device while counting, so no memory is allocated and no arithmetic is done: even
ResNet-1202 is counted in about a second. ``count_additions`` counts what the MACs leave out
on the shortcuts, the element-wise sums F(x) + x, and ``count_weighted_layers`` the depth as
the papers count it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ResnetsError
from .pretrained import published_weights, weight_tags
from .registry import create_model, list_models, model_info

COLUMNS = ("model", "family", "input", "params", "MACs", "paper params", "weights",
           "top-1/top-5", "ref")
WEIGHTS_LEGEND = ("weights: published ImageNet weights (torchvision's v1 and v2), loaded by "
                  "create_model(name, pretrained=True); top-1/top-5: their ImageNet-1k "
                  "validation accuracy as published (%), in the order of the tags")


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(name_or_model: str | nn.Module, resolution: int | None = None,
               in_chans: int | None = None, **options) -> int:
    """Multiply-accumulates of one forward pass of one ``resolution`` x ``resolution`` image.

    Given a name, the model is built on the meta device (``options`` as for ``create_model``;
    ``resolution`` defaults to the model's native input size). Given a model, its weights are
    swapped for meta tensors during the count, so the model itself is neither run nor changed.
    """
    return _measure(_MacCounter, name_or_model, resolution, in_chans, options)


def count_additions(name_or_model: str | nn.Module, resolution: int | None = None,
                    in_chans: int | None = None, **options) -> int:
    """Element-wise tensor additions of one forward pass (arguments as for ``count_macs``).

    In a ResNet these are the shortcuts' sums y = F(x) + x, one addition per element of each
    residual block's output; a plain network has none. Additions inside fused kernels (a
    convolution's bias, BN's shift) are not separate tensor additions and are not counted.
    """
    return _measure(_AdditionCounter, name_or_model, resolution, in_chans, options)


def count_weighted_layers(model: nn.Module) -> int:
    """Depth as He et al. 2015 count it: the convolutions and linear layers of the main path.

    Projection shortcuts (modules named ``downsample``, as here and in torchvision) are left
    out, as the paper's "34-layer" net leaves them out; squeeze-and-excitation gates, being
    convolutions on the branch, are counted.
    """
    return sum(1 for name, m in model.named_modules()
               if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
               and "downsample" not in name.split("."))


def native_macs(model: nn.Module, info) -> int:
    """MACs of ``model`` at its registry entry's own input: a square image of the native
    size, or the spectrogram / token-id shape of audio and text models."""
    if info.modality != "image":
        return _run_counted(_MacCounter, model, info.example_input(1, device="meta"))
    return count_macs(model, info.input_size)


class _MacCounter(FlopCounterMode):
    """PyTorch's FLOP counter, read out as multiply-accumulates (2 FLOPs each)."""

    def __init__(self) -> None:
        super().__init__(display=False)

    def total(self) -> int:
        return self.get_total_flops() // 2


class _AdditionCounter(TorchDispatchMode):
    """Sums the output sizes of every ``aten.add`` (in place or not) that runs under it."""

    def __init__(self) -> None:
        super().__init__()
        self.additions = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket in (torch.ops.aten.add, torch.ops.aten.add_):
            self.additions += out.numel()
        return out

    def total(self) -> int:
        return self.additions


def _measure(counter: type, name_or_model: str | nn.Module, resolution: int | None,
             in_chans: int | None, options: dict) -> int:
    """``counter``'s total for one forward pass of a model given by name or as a module."""
    if isinstance(name_or_model, str):
        info = model_info(name_or_model)
        with torch.device("meta"):
            model = create_model(name_or_model, in_chans=in_chans, **options)
        if info.modality != "image":
            return _run_counted(counter, model, info.example_input(1, device="meta"))
        if resolution is None:
            resolution = info.input_size
    else:
        if options:
            raise ResnetsError(f"options {sorted(options)} only apply when counting by name")
        model = name_or_model
    if resolution is None or resolution < 1:
        raise ResnetsError(f"counting needs a positive input resolution, got {resolution}")
    chans = in_chans or getattr(model, "in_chans", None) or _first_conv_in_chans(model)
    x = torch.empty(1, chans, resolution, resolution, device="meta")
    return _run_counted(counter, model, x)


def _run_counted(counter: type, model: nn.Module, x: torch.Tensor) -> int:
    """``counter``'s total over ``model(x)``, run on meta tensors in eval mode."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    meta_state = {k: v if v.is_meta else torch.empty_like(v, device="meta")
                  for k, v in tensors.items()}
    was_training = model.training
    mode = counter()
    try:
        model.eval()  # BN uses its running statistics and updates nothing
        with mode, torch.no_grad():
            functional_call(model, meta_state, (x,))
    finally:
        model.train(was_training)
    return mode.total()


def _first_conv_in_chans(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return m.in_channels
    raise ResnetsError(f"{type(model).__name__} has no convolution; pass in_chans explicitly")


def model_rows(pattern: str = "*") -> list[dict]:
    """One row per registered model matching ``pattern``: its size and cost at its own input.

    Keys: name, family, input_size (pixels), input (non-image shape, e.g. "40x101"),
    num_classes, params, macs (at the native input),
    published_params (the paper's figure, or None), reference and weights (the tags of the
    published pretrained weights, e.g. ("v1", "v2"); () when there are none).
    """
    names = list_models(pattern)
    if not names:
        raise ResnetsError(f"no model matches {pattern!r}; try a pattern such as 'resnet*'")
    rows = []
    for name in names:
        info = model_info(name)
        with torch.device("meta"):
            model = create_model(name)
        rows.append(dict(name=name, family=info.family, input_size=info.input_size,
                         input="x".join(map(str, info.input_shape[1:] or info.input_shape))
                         if info.modality != "image" else "",
                         num_classes=info.num_classes, params=count_params(model),
                         macs=native_macs(model, info),
                         published_params=info.published_params, reference=info.reference,
                         weights=weight_tags(name)))
    return rows


def accuracy_cell(name: str, tags: tuple[str, ...]) -> str:
    """'76.13/92.86, 80.86/95.43': each set of weights' published top-1/top-5, %."""
    return ", ".join(f"{w.top1:.2f}/{w.top5:.2f}" for w in
                     (published_weights(name, tag) for tag in tags)) or "-"


def format_params(n: int) -> str:
    """Parameters in millions with two decimals, as the papers print them: '11.69M'."""
    return f"{n / 1e6:.2f}M"


def format_macs(n: int) -> str:
    """'1.81G' from a billion MACs up, '40.6M' from a million, '13.8K' below."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}G"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.1f}K"


def _cells(rows: list[dict]) -> tuple[list[list[str]], list[str]]:
    """Table cells per row, and the distinct references that the 'ref' column numbers."""
    refs: list[str] = []
    table = []
    for row in rows:
        if row["reference"] not in refs:
            refs.append(row["reference"])
        table.append([row["name"], row["family"], row.get("input") or str(row["input_size"]),
                      format_params(row["params"]), format_macs(row["macs"]),
                      row["published_params"] or "-", "+".join(row["weights"]) or "-",
                      accuracy_cell(row["name"], row["weights"]),
                      f"[{refs.index(row['reference']) + 1}]"])
    return table, refs


def format_table(rows: list[dict]) -> str:
    """An aligned text table (names and families left, numbers right) and its references."""
    table, refs = _cells(rows)
    widths = [max(len(c) for c in col) for col in zip(COLUMNS, *table)]
    numeric = [False, False, True, True, True, True, False, False, False]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if right else c.ljust(w)
                         for c, w, right in zip(cells, widths, numeric)).rstrip()

    out = [line(COLUMNS), "  ".join("-" * w for w in widths)]
    out += [line(cells) for cells in table]
    out += ["", WEIGHTS_LEGEND] + [f"[{i + 1}] {ref}" for i, ref in enumerate(refs)]
    return "\n".join(out)


def format_markdown(rows: list[dict]) -> str:
    """A GitHub-flavoured Markdown table with numbered references below it."""
    table, refs = _cells(rows)
    align = ["---", "---", "---:", "---:", "---:", "---:", "---", "---", "---"]
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join([f"`{cells[0]}`", *cells[1:]]) + " |" for cells in table]
    out += ["", WEIGHTS_LEGEND + ".", ""]
    out += [f"{i + 1}. {ref}" for i, ref in enumerate(refs)]
    return "\n".join(out)
