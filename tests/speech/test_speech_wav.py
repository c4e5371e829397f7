"""WAV reading: 16-bit PCM (via ``wave``), 32-bit float (RIFF chunks parsed here), bad files."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest

from resnets.errors import DataError
from resnets.speech.wav import read_wav, resample


def float_wav(samples: np.ndarray, rate: int = 16000, channels: int = 1,
              extensible: bool = False) -> bytes:
    """A 32-bit IEEE-float WAV by hand, with an odd-sized chunk before 'data'."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else 3, channels, rate,
                      rate * 4 * channels, 4 * channels, 32)
    if extensible:  # cbSize, valid bits, channel mask, sub-format GUID (tag 3 first)
        fmt += struct.pack("<HHI", 22, 32, 4) + struct.pack("<H", 3) + bytes(14)
    odd = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\0"  # 3 bytes, padded to 4
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + odd
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_pcm16_values_scale_to_minus_one_one(tmp_path, pcm16):
    path = tmp_path / "a.wav"
    pcm16(path, [[0], [16384], [-32768], [32767]], rate=8000)
    samples, rate = read_wav(path)
    assert rate == 8000 and samples.dtype == np.float32
    assert samples.tolist() == [0.0, 0.5, -1.0, 32767 / 32768]


def test_stereo_is_averaged(tmp_path, pcm16):
    path = tmp_path / "s.wav"
    pcm16(path, [[16384, 0], [-16384, -16384]])
    assert read_wav(path)[0].tolist() == [0.25, -0.5]


@pytest.mark.parametrize("extensible", [False, True])
def test_float32_wav_parsed_from_the_riff_chunks(tmp_path, extensible):
    path = tmp_path / "f.wav"
    values = np.array([0.0, 0.25, -0.125, 1.0, -1.0], dtype=np.float32)
    path.write_bytes(float_wav(values, rate=22050, extensible=extensible))
    samples, rate = read_wav(path)
    assert rate == 22050 and samples.tolist() == values.tolist()
    path.write_bytes(float_wav(np.array([0.5, 0.0, -0.5, 0.5]), channels=2))
    assert read_wav(path)[0].tolist() == [0.25, 0.0]


def test_bad_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.wav: empty file"):
        read_wav(empty)
    text = tmp_path / "text.wav"
    text.write_text("hello, not audio")
    with pytest.raises(DataError, match="text.wav: not a WAV file"):
        read_wav(text)
    head_only = tmp_path / "cut.wav"
    head_only.write_bytes(float_wav(np.zeros(4))[:40])
    with pytest.raises(DataError, match="cut.wav: WAV file without a 'data' chunk"):
        read_wav(head_only)
    no_samples = tmp_path / "none.wav"
    no_samples.write_bytes(float_wav(np.zeros(0)))
    with pytest.raises(DataError, match="none.wav: the WAV file holds no samples"):
        read_wav(no_samples)
    pcm24 = bytearray(float_wav(np.zeros(3)))
    pcm24[20:22] = struct.pack("<H", 1)  # format tag PCM ...
    pcm24[34:36] = struct.pack("<H", 24)  # ... 24 bits per sample
    (tmp_path / "deep.wav").write_bytes(bytes(pcm24))
    with pytest.raises(DataError, match="deep.wav: 24-bit PCM WAV is not supported"):
        read_wav(tmp_path / "deep.wav")
    with pytest.raises(DataError, match="missing.wav: cannot read"):
        read_wav(tmp_path / "missing.wav")


def test_resampling_keeps_the_frequency():
    rate, hz = 8000, 440.0
    tone = np.sin(2 * np.pi * hz * np.arange(rate) / rate).astype(np.float32)
    up = resample(tone, rate, 16000)
    assert len(up) == 16000
    spectrum = np.abs(np.fft.rfft(up))
    assert np.argmax(spectrum) * 16000 / len(up) == pytest.approx(hz, abs=1.0)
    assert resample(tone, rate, rate) is tone


def test_a_small_file_claiming_1_hz_is_refused_before_any_resampling(tmp_path, monkeypatch):
    from resnets.speech import commands, wav
    from resnets.speech.features import FeatureConfig

    path = tmp_path / "one-hertz.wav"
    path.write_bytes(float_wav(np.zeros(8000), rate=1))  # 32 KB of samples
    assert 32000 <= path.stat().st_size < 33000

    def resampled(*args):
        raise AssertionError("resampled a file with an impossible rate")

    monkeypatch.setattr(commands, "resample", resampled)
    monkeypatch.setattr(wav, "resample", resampled)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            commands.load_clip(path, FeatureConfig())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "one-hertz.wav: WAV header claims 1 channels at 1 Hz" in str(info.value)
    assert peak < 1 << 20  # the file is read once; nothing is allocated from its claims


@pytest.mark.parametrize("rate, channels", [(999, 1), (384_001, 1), (4_000_000_000, 1),
                                            (16000, 0), (16000, 65)])
def test_impossible_header_fields_are_refused(tmp_path, rate, channels):
    path = tmp_path / "bad.wav"
    blob = bytearray(float_wav(np.zeros(64)))
    blob[22:28] = struct.pack("<HI", channels, rate)  # the 'fmt ' chunk opens at byte 20
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=f"claims {channels} channels at {rate} Hz"):
        read_wav(path)


def test_a_data_size_beyond_the_file_is_refused(tmp_path):
    blob = bytearray(float_wav(np.zeros(100)))
    at = blob.index(b"data") + 4
    blob[at:at + 4] = struct.pack("<I", 10 ** 9)
    path = tmp_path / "cut.wav"
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="claims 1000000000 bytes of samples but the file "
                                        "holds 400"):
        read_wav(path)
    blob[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)  # a streaming writer's placeholder
    path.write_bytes(bytes(blob))
    assert len(read_wav(path)[0]) == 100
