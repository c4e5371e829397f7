"""Parameter and multiply-accumulate counts for the zoo, as tables for the CLI and the docs.

MACs come from PyTorch's own ``FlopCounterMode`` (which counts 2 FLOPs per multiply-add of
convolutions and matrix products; normalisation, activations, pooling and additions are not
counted, as in the papers and torchvision's model cards). Models and inputs live on the
``meta`` device while counting, so no memory is allocated and no arithmetic is done: even
ResNet-1202 is counted in about a second.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ResnetsError
from .registry import create_model, list_models, model_info

COLUMNS = ("model", "family", "input", "params", "MACs", "paper params", "weights", "ref")
WEIGHTS_LEGEND = ("weights: published ImageNet weights (torchvision's v1 and v2), loaded by "
                  "create_model(name, pretrained=True)")


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
    if isinstance(name_or_model, str):
        info = model_info(name_or_model)
        with torch.device("meta"):
            model = create_model(name_or_model, in_chans=in_chans, **options)
        if info.modality != "image" or resolution is None:
            return native_macs(model, info)
    else:
        if options:
            raise ResnetsError(f"options {sorted(options)} only apply when counting by name")
        model = name_or_model
    if resolution is None or resolution < 1:
        raise ResnetsError(f"count_macs needs a positive input resolution, got {resolution}")
    chans = in_chans or getattr(model, "in_chans", None) or _first_conv_in_chans(model)
    return _count(model, torch.empty(1, chans, resolution, resolution, device="meta"))


def native_macs(model: nn.Module, info) -> int:
    """MACs of ``model`` at its registry entry's own input: a square image of the native
    size, or the spectrogram / token-id shape of audio and text models."""
    if info.modality != "image":
        return _count(model, info.example_input(1, device="meta"))
    return count_macs(model, info.input_size)


def _count(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of ``model(x)``, run on meta tensors in eval mode."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    meta_state = {k: v if v.is_meta else torch.empty_like(v, device="meta")
                  for k, v in tensors.items()}
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()  # BN uses its running statistics and updates nothing
        with counter, torch.no_grad():
            functional_call(model, meta_state, (x,))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


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
    from ..transfer.pretrained import weight_tags

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
                      f"[{refs.index(row['reference']) + 1}]"])
    return table, refs


def format_table(rows: list[dict]) -> str:
    """An aligned text table (names and families left, numbers right) and its references."""
    table, refs = _cells(rows)
    widths = [max(len(c) for c in col) for col in zip(COLUMNS, *table)]
    numeric = [False, False, True, True, True, True, False, False]

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
    align = ["---", "---", "---:", "---:", "---:", "---:", "---", "---"]
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join([f"`{cells[0]}`", *cells[1:]]) + " |" for cells in table]
    out += ["", WEIGHTS_LEGEND + ".", ""]
    out += [f"{i + 1}. {ref}" for i, ref in enumerate(refs)]
    return "\n".join(out)
