"""Loading and saving model weights safely.

Weights are read with ``torch.load(weights_only=True)`` (no arbitrary unpickling) or from
safetensors; they are written as safetensors, atomically.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError, first_line
from .files import atomic_path

_WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")
_PREFIXES = ("module.", "_orig_mod.")  # added by DistributedDataParallel and torch.compile


SAFE_FORMATS = "give a .safetensors file or a .pt state dict of tensors"


def load_torch_file(path: str | os.PathLike, what: str = "weights file",
                    fix: str = SAFE_FORMATS) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a refusal is one line of ours."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the file is corrupt, not a torch file, or holds pickled code
        raise load_error(path, exc, what, fix) from None


def load_error(path: str | os.PathLike, exc: BaseException, what: str,
               fix: str = SAFE_FORMATS) -> CheckpointError:
    """Our line for a file that ``torch.load(weights_only=True)`` refused.

    torch's own message advises re-running with ``weights_only=False``, which would run
    whatever code the file holds: that advice is never passed on.
    """
    name, text = repr(str(path)), str(exc)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return CheckpointError(f"{name} is not a {what} this project can load safely (it "
                               f"holds the pickled Python object {found.group(1)}); {fix}")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:1] == b"\x80" and head[:2] != b"\x80\x02":  # torch's legacy files: protocol 2
        return CheckpointError(f"{name} is a plain Python pickle, not a {what}; it is not "
                               f"unpickled, as that could run code; {fix}")
    if head[:2] not in (b"PK", b"\x80\x02"):  # torch writes zip archives (or legacy pickles)
        return CheckpointError(f"{name} is not a {what}: it is neither a torch file nor "
                               f"safetensors; {fix}")
    reason = first_line(exc)
    if "Weights only load failed" in text:  # the cause follows torch's advice
        reason = first_line(text.partition("WeightsUnpickler error:")[2], "not a torch file")
    reason = reason.split(". ")[0]
    return CheckpointError(f"{name} is a damaged or unknown {what} ({reason}); {fix}")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors``, ``.pt`` or ``.pth`` file (or a training checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # a damaged header or data
            raise CheckpointError(f"{str(path)!r} is not a readable safetensors file "
                                  f"({first_line(exc, 'unreadable')}); {SAFE_FORMATS}"
                                  ) from None
    else:
        state = load_torch_file(path)
    for key in _WRAPPER_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise CheckpointError(f"{str(path)!r} holds no state dict of tensors")
    return {_strip_prefixes(k): v for k, v in state.items()}


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def check_compatible(model: nn.Module, state: Mapping[str, torch.Tensor],
                     source: str = "the weights") -> None:
    """Raise one clear error naming the first mismatched keys and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if wrong:
        shown = ", ".join(f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                          for k in wrong[:3])
        parts.append(f"shape mismatch: {shown}")
    if missing:
        parts.append(f"missing keys: {', '.join(missing[:3])}" + (" ..." if missing[3:] else ""))
    if unexpected:
        parts.append(f"unexpected keys: {', '.join(unexpected[:3])}"
                     + (" ..." if unexpected[3:] else ""))
    hint = ""
    if any(k.startswith(("fc.", "classifier.")) for k in wrong):
        hint = "; set num_classes to match the checkpoint, or load with strict=False"
    elif any(k.endswith("conv1.weight") and k.count(".") == 1 for k in wrong):
        hint = "; set in_chans to match the checkpoint"
    elif missing or unexpected:
        hint = "; is it the same architecture?"
    raise CheckpointError(f"{source} do not fit {type(model).__name__}: "
                          + "; ".join(parts) + hint)


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load weights from ``path`` into ``model`` (in place) and return it.

    With ``strict=False`` tensors whose name or shape does not fit are skipped, e.g. to keep a
    new classifier when fine-tuning.
    """
    state = read_state_dict(path)
    source = f"weights in {str(path)!r}"
    if strict:
        check_compatible(model, state, source=source)
    else:
        state = _fitting_part(model, state, source)
    model.load_state_dict(state, strict=strict)
    return model


def _fitting_part(model: nn.Module, state: dict, source: str) -> dict:
    """The tensors of ``state`` whose name and shape fit ``model``; refuses a file of which
    none fits, and warns when some of the model's tensors find no match (they keep their
    initial values). Extra tensors in the file (a classifier the model lacks) pass silently."""
    own = model.state_dict()
    fitting = {k: v for k, v in state.items()
               if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if all(k.endswith("num_batches_tracked") for k in fitting):  # BN counters fit anything
        raise CheckpointError(f"no tensor of the {source} fits {type(model).__name__} by name "
                              "and shape; is it the same architecture?")
    left = [k for k in own if k not in fitting and not k.endswith("num_batches_tracked")]
    if left:
        warnings.warn(f"{source}: {len(left)} of the model's {len(own)} tensors found no "
                      f"match and keep their initial values (first: {left[0]!r})",
                      stacklevel=3)
    return fitting


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the model's state dict as safetensors, atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"save_weights writes safetensors; name the file "
                              f"{path.with_suffix('.safetensors').name!r}")
    # safetensors refuses shared or non-contiguous storage: save independent copies.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:  # a failed write: one line, the old file kept
        save_file(tensors, tmp, metadata={"format": "pt"})
    return path
