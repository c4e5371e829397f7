"""Upscale images with a trained network, score it against bicubic upsampling, and write
its images: ``resnets sr evaluate|predict`` (training is :mod:`resnets.sr.task`).

Scores follow the EDSR and VDSR evaluations: the network's output is rounded to 8 bits (the
image it would save), then PSNR and SSIM are computed on the BT.601 luminance with ``scale``
pixels of border left out (:mod:`resnets.train.image_quality`), averaged over the images;
bicubic upsampling of the same low-resolution images, scored the same way, is the baseline.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from ..data.outputs import plan_outputs
from ..files import atomic_path
from ..models import create_model
from ..models.sr import bicubic_upscale
from ..readback import check_keys, field_kinds, fill_defaults
from ..train.device import resolve_device
from ..train.image_quality import psnr, ssim
from ..train.task_checkpoint import load_checked, read_run_checkpoint
from .config import NetworkConfig, SRDataConfig
from .data import ImagePairs, decode, validation_pairs


def build_network(network: NetworkConfig, channels: int) -> nn.Module:
    """The registry model ``network`` names, for images of ``channels`` channels."""
    return create_model(network.name, in_chans=channels, **network.options())


def to_8_bits(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] rounded to the 256 levels of an 8-bit file (still floats, 0-1)."""
    return (images.clamp(0, 1) * 255).round() / 255


@torch.no_grad()
def upscale(model: nn.Module, lr: torch.Tensor) -> torch.Tensor:
    """The network's 8-bit output (float, 0-1, on the CPU) for one uint8 C x h x w image."""
    model.eval()
    device = next(model.parameters()).device
    return to_8_bits(model(lr[None].to(device).float() / 255)[0].float()).cpu()


def score(model: nn.Module, pairs: ImagePairs) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM on the luminance, border of ``scale`` left out, of the network
    and of bicubic upsampling over the (LR, HR) ``pairs``; ``psnr_gain``: the difference."""
    s = pairs.scale
    totals = dict.fromkeys(("psnr", "ssim", "bicubic_psnr", "bicubic_ssim"), 0.0)
    for index in range(len(pairs)):
        lr, hr = pairs[index]
        target = hr.float() / 255
        bicubic = to_8_bits(bicubic_upscale(lr[None].float() / 255, s)[0])
        for prefix, image in (("", upscale(model, lr)), ("bicubic_", bicubic)):
            totals[f"{prefix}psnr"] += psnr(image, target, crop_border=s, y_channel=True).item()
            totals[f"{prefix}ssim"] += ssim(image, target, crop_border=s, y_channel=True).item()
    means = {key: value / len(pairs) for key, value in totals.items()}
    return {**means, "psnr_gain": means["psnr"] - means["bicubic_psnr"]}


def load_network(path: str | os.PathLike, device: torch.device
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """The trained network of a run directory or checkpoint file, and its metadata."""
    state = read_run_checkpoint(path, "super-resolution", "network", NetworkConfig)
    where = f"checkpoint {str(path)!r}: 'data'"
    state["data"] = fill_defaults(state.get("data"), SRDataConfig, where)
    check_keys(state["data"], field_kinds(SRDataConfig), where)
    network = NetworkConfig(**state["network"])
    data = SRDataConfig(**{**state["data"], "downscales": tuple(state["data"]["downscales"])})
    model = load_checked(lambda: build_network(network, data.channels), state, path)
    return model.to(device).eval(), state


def evaluate_run(path: str, folder: str | None = None, device: str = "auto"
                 ) -> dict[str, Any]:
    """The scores of a trained network on the images of ``folder`` (default: its run's
    validation folder)."""
    model, meta = load_network(path, resolve_device(device))
    data = meta["data"]
    pairs = validation_pairs(folder or data["val"], model.scale, data["channels"])
    return {**score(model, pairs), "images": len(pairs), "scale": model.scale,
            "network": asdict(NetworkConfig(**meta["network"]))}


def predict_images(path: str, images: list[str], out_dir: str, device: str = "auto"
                   ) -> list[Path]:
    """Write ``<stem>_x<scale>.png``, the upscaled image, for each of ``images`` into
    ``out_dir``; returns the files written."""
    model, meta = load_network(path, resolve_device(device))
    channels = meta["data"]["channels"]
    _, plans = plan_outputs(images, out_dir, [f"_x{model.scale}.png"])
    written = []
    for file, (target,) in zip(images, plans):
        image = (upscale(model, decode(Path(file), channels)) * 255).round().to(torch.uint8)
        pixels = image.permute(1, 2, 0).numpy()
        with atomic_path(target) as tmp:
            Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(tmp, format="PNG")
        written.append(target)
    return written
