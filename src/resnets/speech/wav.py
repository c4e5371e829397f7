"""WAV files: 16-bit PCM through the standard library's ``wave``, 32-bit float by hand.

``wave`` reads only integer PCM, so for IEEE-float files (format tag 3, as many audio editors
write) the RIFF chunks are walked here: ``RIFF <size> WAVE``, then chunks of ``<4-byte id>
<little-endian u32 size> <data>`` padded to an even length; ``fmt `` gives the format tag,
channels, sample rate and bits per sample, ``data`` the interleaved samples.
"""

from __future__ import annotations

import os
import struct
import wave
from math import gcd
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import atomic_path

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE  # WAVE format tags
# Rates real recordings use (telephone 8 kHz ... studio 384 kHz); a header outside them is
# damaged, and resampling from, say, 1 Hz would blow 32 KB up into gigabytes.
MIN_RATE, MAX_RATE = 1000, 384_000
MAX_CHANNELS = 64
STREAMING_SIZE = 0xFFFFFFFF  # the data size a writer that could not seek back leaves


def _chunks(blob: bytes, path: str) -> dict[bytes, bytes]:
    """The RIFF chunks of a WAV file's bytes, by id (the first of each id wins)."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise DataError(f"{path}: not a WAV file (no RIFF/WAVE header); convert it to 16-bit "
                        "PCM WAV")
    chunks, claimed, pos = {}, {}, 12
    while pos + 8 <= len(blob):
        chunk_id, size = blob[pos:pos + 4], struct.unpack("<I", blob[pos + 4:pos + 8])[0]
        chunks.setdefault(chunk_id, blob[pos + 8:pos + 8 + size])
        claimed.setdefault(chunk_id, size)
        pos += 8 + size + (size & 1)
    if b"fmt " not in chunks or len(chunks[b"fmt "]) < 16:
        raise DataError(f"{path}: WAV file without a valid 'fmt ' chunk (truncated?)")
    if b"data" not in chunks:
        raise DataError(f"{path}: WAV file without a 'data' chunk (truncated?)")
    if claimed[b"data"] != STREAMING_SIZE and claimed[b"data"] > len(chunks[b"data"]):
        raise DataError(f"{path}: the WAV header claims {claimed[b'data']} bytes of samples "
                        f"but the file holds {len(chunks[b'data'])} (truncated?); re-export "
                        "the file")
    return chunks


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate) of a 16-bit PCM or 32-bit float WAV.

    Several channels are averaged. Anything else (8/24-bit PCM, compressed formats, an empty
    or truncated file) raises :class:`DataError` naming the file.
    """
    name = str(path)
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{name}: cannot read the file ({exc.strerror})") from None
    if not blob:
        raise DataError(f"{name}: empty file (0 bytes)")
    chunks = _chunks(blob, name)
    tag, channels, rate = struct.unpack("<HHI", chunks[b"fmt "][:8])
    bits = struct.unpack("<H", chunks[b"fmt "][14:16])[0]
    if tag == EXTENSIBLE and len(chunks[b"fmt "]) >= 26:  # the real tag opens the sub-format
        tag = struct.unpack("<H", chunks[b"fmt "][24:26])[0]
    if not (1 <= channels <= MAX_CHANNELS and MIN_RATE <= rate <= MAX_RATE):
        raise DataError(f"{name}: WAV header claims {channels} channels at {rate} Hz; a "
                        f"recording has 1..{MAX_CHANNELS} channels at {MIN_RATE}.."
                        f"{MAX_RATE} Hz (is the file damaged?)")
    if tag == PCM and bits == 16:
        samples = _read_pcm16(path, name, channels)
    elif tag == IEEE_FLOAT and bits == 32:
        data = chunks[b"data"]
        usable = len(data) // (4 * channels) * 4 * channels
        samples = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
    else:
        kind = {PCM: f"{bits}-bit PCM", IEEE_FLOAT: f"{bits}-bit float"}.get(tag, f"format {tag}")
        raise DataError(f"{name}: {kind} WAV is not supported; convert it to 16-bit PCM "
                        "(e.g. sox IN.wav -b 16 OUT.wav)")
    if not len(samples):
        raise DataError(f"{name}: the WAV file holds no samples")
    mono = samples.mean(axis=1, dtype=np.float32) if channels > 1 else samples[:, 0]
    if not np.isfinite(mono).all():
        raise DataError(f"{name}: the WAV file holds NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _read_pcm16(path: str | os.PathLike, name: str, channels: int) -> np.ndarray:
    try:
        with wave.open(str(path), "rb") as wav:
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{name}: unreadable WAV file ({exc})") from None
    usable = len(frames) // (2 * channels) * 2 * channels  # a truncated last frame is dropped
    pcm = np.frombuffer(frames[:usable], dtype="<i2").reshape(-1, channels)
    return pcm.astype(np.float32) / 32768.0


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited polyphase resampling from ``rate`` to ``target`` Hz (scipy)."""
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    step = gcd(rate, target)
    return resample_poly(samples, target // step, rate // step).astype(np.float32)


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples in [-1, 1] as a 16-bit PCM WAV (clipping outside), atomically
    (its folder created); a failed write is one line (:class:`~resnets.files.WriteError`)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767), -32768, 32767)
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
