"""Turning image files into uint8 3 x H x W tensors: PIL, torchvision.io, or a GPU.

``torchvision`` decodes JPEG and PNG with libjpeg-turbo and libpng straight into a tensor,
skipping PIL's image object and the copy out of it; ``benchmarks/data_pipeline.py --files``
measured it the faster of the two on this project's machine, with the same pixels
(docs/training.md, Data), so ``auto`` means torchvision. Files it does not read (BMP, TIFF,
GIF, 16-bit PNG) or rejects go to PIL, whose error names a damaged file in one line as before.

On CUDA the workers only read the files (:class:`EncodedFiles`) and the training process
decodes each batch's JPEGs on the GPU with nvJPEG (:class:`DeviceDecodedBatches`), then runs
the transform there, each image under its own augmentation seed as on the CPU path.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from PIL import Image
from torchvision import io as tvio
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import DataError
from .imagecheck import open_image

DECODERS = ("auto", "pil", "torchvision")  # data.decoder
FASTEST_DECODER = "torchvision"  # what `auto` means: benchmarks/data_pipeline.py decided
TORCHVISION_SUFFIXES = (".jpg", ".jpeg", ".png")  # the rest always go to PIL
JPEG_MAGIC = b"\xff\xd8"


def resolve_decoder(name: str) -> str:
    """``pil`` or ``torchvision`` for a ``data.decoder`` value."""
    if name not in DECODERS:
        raise DataError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")
    return FASTEST_DECODER if name == "auto" else name


def decode_image(source: str | os.PathLike | bytes, fix: str = "replace the file or leave "
                 "it out", name: str | None = None, mode: str = "RGB") -> Image.Image:
    """Fully decode a file (a path, or its bytes named ``name``) as a PIL image of ``mode``
    (RGB, or L: grayscale); an unreadable one raises DataError. ``fix`` ends the message: the
    caller knows which option, if any, skips such files."""
    where = source if name is None else name
    try:
        with open_image(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return image.convert(mode)  # convert() forces the whole file to be decoded
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot decode image {where} ({reason}); {fix}") from None


def read_file(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as err:
        raise DataError(f"cannot read image {path} ({err.strerror or err}); check the "
                        "file and its permissions") from None


def decode_tensor(source: str | os.PathLike | bytes, decoder: str = FASTEST_DECODER,
                  fix: str = "replace the file or leave it out",
                  name: str | None = None) -> torch.Tensor:
    """A uint8 3 x H x W RGB tensor of a file (its path, or its bytes named ``name``),
    decoded by ``decoder`` (``pil`` or ``torchvision``; see the module docstring)."""
    suffix = os.path.splitext(str(source if name is None else name))[1].lower()
    if decoder == "torchvision" and suffix in TORCHVISION_SUFFIXES:
        data = source if isinstance(source, bytes) else read_file(source)
        try:
            image = tvio.decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8),
                                      mode=tvio.ImageReadMode.RGB)
        except RuntimeError:  # damaged or unsupported: PIL decides, and names a bad file
            return pil_to_tensor(decode_image(data, fix, str(source if name is None
                                                             else name)))
        if image.dtype == torch.uint8:
            return image
        source = data  # a 16-bit PNG: PIL brings it to 8 bits as before
    return pil_to_tensor(decode_image(source, fix, name))


class EncodedFiles(torch.utils.data.Dataset):
    """(file bytes as a uint8 tensor, label, augmentation seed, index) of a folder dataset's
    samples: what workers hand to :class:`DeviceDecodedBatches`. Under the loader's seeding
    (``data.steps``) ``torch.initial_seed()`` is the seed the sample's transform must use."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int, int]:
        path, label = self.dataset.samples[index]
        data = torch.frombuffer(bytearray(read_file(path)), dtype=torch.uint8)
        return data, label, torch.initial_seed(), index


def collate_encoded(items: list) -> tuple[list[torch.Tensor], torch.Tensor, list, list]:
    """Encoded files stay a list (their lengths differ); labels become one tensor."""
    data, labels, seeds, indices = zip(*items)
    return list(data), torch.tensor(labels), list(seeds), list(indices)


class DeviceDecodedBatches:
    """Batches of :class:`EncodedFiles` decoded on ``device`` and transformed there.

    ``batches`` is a loader of collated encoded samples (a ``StepLoader`` with
    :func:`collate_encoded`); ``set_epoch`` and ``len()`` are its own.
    """

    def __init__(self, batches, dataset, transform: Callable[[torch.Tensor], torch.Tensor],
                 device: torch.device, fix: str) -> None:
        self.batches, self.dataset, self.transform = batches, dataset, transform
        self.device, self.fix = torch.device(device), fix

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.batches.set_epoch(epoch, start)

    @property
    def pin_memory(self) -> bool:
        return self.batches.pin_memory

    def close(self) -> None:
        self.batches.close()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for data, labels, seeds, indices in self.batches:
            images = self.decode(data, indices)
            out = []
            for image, seed in zip(images, seeds):
                with torch.random.fork_rng(devices=[]):
                    torch.default_generator.manual_seed(seed)  # the CPU path's draws
                    out.append(self.transform(image))
            yield torch.stack(out), labels

    def decode(self, data: list[torch.Tensor], indices: list[int]) -> list[torch.Tensor]:
        """uint8 3 x H x W images on the device: JPEGs in one nvJPEG call, the rest one by
        one on the CPU; a batch the GPU refuses is decoded on the CPU, naming a bad file."""
        jpegs = [i for i, d in enumerate(data) if bytes(d[:2].tolist()) == JPEG_MAGIC]
        images: list[Any] = [None] * len(data)
        try:
            if jpegs:
                decoded = tvio.decode_jpeg([data[i] for i in jpegs],
                                           mode=tvio.ImageReadMode.RGB, device=self.device)
                for i, image in zip(jpegs, decoded):
                    images[i] = image
        except RuntimeError:
            pass  # a damaged JPEG in the batch: each is decoded below, the bad one named
        for i, image in enumerate(images):
            if image is None:
                path = self.dataset.samples[indices[i]][0]
                images[i] = decode_tensor(bytes(data[i].numpy()), "torchvision", self.fix,
                                          path).to(self.device)
        return images
