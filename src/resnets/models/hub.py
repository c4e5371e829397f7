"""Models on the Hugging Face Hub, as timm keeps them: ``config.json`` + ``model.safetensors``.

``save_pretrained(model, folder)`` writes the model's architecture, its options and (for
published weights) their input configuration to ``config.json`` and its tensors to
``model.safetensors``; ``create_model("hf-hub:ORG/NAME")`` downloads both through
``huggingface_hub`` (its cache; ``HF_HUB_OFFLINE=1`` reads the cache alone) and
``create_model("local-dir:FOLDER")`` reads a saved folder; ``push_to_hub`` uploads a folder.
``huggingface_hub`` is an optional extra (``pip install 'resnets[hub]'``); weights are read
with safetensors only, never unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ResnetsError
from ..files import write_text_atomic
from ..readback import read_json

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise ResnetsError("the Hugging Face Hub needs huggingface_hub: pip install "
                           "'resnets[hub]'") from None
    return huggingface_hub


def hub_config(model: nn.Module) -> dict[str, Any]:
    """What ``config.json`` holds: the architecture, the options it was built with, and the
    published weights' input configuration when it holds them."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if "architecture" not in cfg:
        raise ResnetsError(f"{type(model).__name__} was not made by resnets.create_model; "
                           "only registry models can be saved for the hub")
    options = cfg.get("options", {})
    try:
        json.dumps(options)
    except TypeError:
        raise ResnetsError(f"{cfg['architecture']} was built with options that a config.json "
                           f"cannot hold ({', '.join(sorted(options))}); build it with plain "
                           "values") from None
    out: dict[str, Any] = {"architecture": cfg["architecture"], "options": options,
                           "library": "resnets"}
    if cfg.get("tag"):  # the published weights' input configuration goes with them
        from .pretrained import imagenet_classes, published_weights

        entry = published_weights(cfg["architecture"], cfg["tag"])
        out["pretrained"] = {"tag": entry.tag, "input_size": [3, entry.crop, entry.crop],
                             "resize": entry.resize, "interpolation": entry.interpolation,
                             "mean": list(entry.mean), "std": list(entry.std),
                             "top1": entry.top1, "top5": entry.top5, "source": entry.url,
                             "classes": list(imagenet_classes())}
    return out


def save_pretrained(model: nn.Module, folder: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` of ``model`` into ``folder``."""
    from ..weights import save_weights

    folder = Path(folder)
    config = hub_config(model)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(model, folder / WEIGHTS_FILE)
    write_text_atomic(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return folder


def push_to_hub(model: nn.Module, repo_id: str, private: bool = False,
                commit_message: str = "resnets model") -> str:
    """Save ``model`` as :func:`save_pretrained` does and upload it to ``repo_id``."""
    hub = _hub()
    api = hub.HfApi()
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return repo_id


def resolve_files(spec: str) -> tuple[Path, Path]:
    """(config.json, model.safetensors) of ``hf-hub:ORG/NAME`` or ``local-dir:FOLDER``."""
    kind, _, where = spec.partition(":")
    if not where:
        raise ResnetsError(f"{spec!r}: name a repository (hf-hub:ORG/NAME) or a folder "
                           "(local-dir:PATH)")
    if kind == "local-dir":
        folder = Path(where).expanduser()
        files = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ResnetsError(f"{spec!r}: {folder} holds no {missing[0]}; write it with "
                               "resnets.save_pretrained")
        return files
    hub = _hub()
    try:
        return tuple(Path(hub.hf_hub_download(where, name)) for name in (CONFIG_FILE,
                                                                          WEIGHTS_FILE))
    except Exception as exc:  # offline without the files, a missing repository, ...
        from ..errors import first_line

        raise ResnetsError(f"{spec!r}: cannot get {CONFIG_FILE} and {WEIGHTS_FILE} "
                           f"({first_line(exc)}); offline, fill the hub cache first "
                           "(HF_HUB_OFFLINE=1 reads only the cache)") from None


def create_from_hub(spec: str, create_model, **overrides: Any) -> nn.Module:
    """The model a hub repository or saved folder describes, with its weights
    (``create_model``: the registry's, handed down so this module does not import it)."""
    from ..weights import load_weights

    config_path, weights_path = resolve_files(spec)
    config = read_json(config_path, f"{spec} {CONFIG_FILE}", "save it again with "
                       "resnets.save_pretrained")
    if not isinstance(config.get("architecture"), str) or not isinstance(
            config.get("options", {}), dict):
        raise ResnetsError(f"{spec}: {CONFIG_FILE} names no architecture and options; save "
                           "it again with resnets.save_pretrained")
    model = create_model(config["architecture"], **{**config.get("options", {}), **overrides})
    load_weights(model, weights_path)
    pretrained = config.get("pretrained")
    if isinstance(pretrained, dict) and isinstance(pretrained.get("tag"), str):
        model.pretrained_cfg["tag"] = pretrained["tag"]
    return model
