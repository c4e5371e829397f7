"""Loading and saving model weights safely.

Weights are read with ``torch.load(weights_only=True)`` (no arbitrary unpickling) or from
safetensors; they are written as safetensors, atomically.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError

_WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")
_PREFIXES = ("module.", "_orig_mod.")  # added by DistributedDataParallel and torch.compile


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors``, ``.pt`` or ``.pth`` file (or a training checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as exc:  # the file is corrupt or holds pickled code
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read weights from {str(path)!r}: {reason}") from exc
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
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage: save independent copies.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt"})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
