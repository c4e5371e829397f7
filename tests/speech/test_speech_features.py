"""Log-mel features against a spectrogram computed by hand, and the batch augmentations."""

from __future__ import annotations

import math

import pytest
import torch

from resnets.speech.features import (AugmentConfig, FeatureConfig, LogMel, hz_to_mel,
                                     mel_filterbank, mix_noise, time_shift)

CFG = FeatureConfig()


def test_pure_tone_spectrum_by_hand():
    """A tone on FFT bin k (k * 16000 / 480 Hz) under a periodic Hann window of N samples:
    |X_k| = A N / 4 and |X_k+-1| = A N / 8, every other bin zero."""
    amplitude, k, n = 0.5, 30, CFG.window
    t = torch.arange(CFG.clip_samples, dtype=torch.float64) / CFG.sample_rate
    tone = amplitude * torch.cos(2 * math.pi * k * CFG.sample_rate / n * t)
    logmel = LogMel(CFG).double()
    power = logmel.power_spectrogram(tone[None])[0]  # bins x frames
    assert power.shape == (n // 2 + 1, 101)
    frame = power[:, 50]  # an interior frame: no padding inside the window
    expected = torch.zeros(n // 2 + 1, dtype=torch.float64)
    expected[k] = (amplitude * n / 4) ** 2
    expected[k - 1] = expected[k + 1] = (amplitude * n / 8) ** 2
    torch.testing.assert_close(frame, expected, atol=1e-6, rtol=1e-6)

    bands = logmel(tone[None])[0, 0, :, 50]
    fb = mel_filterbank(CFG).double()
    by_hand = torch.log(fb[:, k - 1] * 900 + fb[:, k] * 3600 + fb[:, k + 1] * 900 + 1e-6)
    torch.testing.assert_close(bands, by_hand, rtol=1e-6, atol=1e-6)
    centres = (bands > math.log(1e-6) + 1).nonzero().flatten().tolist()
    assert 1 <= len(centres) <= 3  # 1 kHz lights up the one or two filters around it


def test_mel_scale_and_filterbank_shape():
    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.05)
    assert float(hz_to_mel(0.0)) == 0.0
    fb = mel_filterbank(CFG)
    assert fb.shape == (40, 241)
    bins = torch.arange(241) * CFG.sample_rate / CFG.window
    outside = (bins < CFG.f_min) | (bins > CFG.f_max)
    assert fb[:, outside].abs().sum() == 0  # the 20 Hz .. 4 kHz band-pass
    assert (fb.max(dim=1).values > 0.3).all() and fb.max() <= 1.0
    peaks = fb.argmax(dim=1)
    assert (peaks[1:] >= peaks[:-1]).all()  # filters climb in frequency


def test_batches_are_one_second_spectrograms_with_no_cross_talk():
    waves = torch.randn(3, 16000) * 0.1
    out = LogMel(CFG)(waves)
    assert out.shape == (3, 1, 40, 101)
    torch.testing.assert_close(out[1:2], LogMel(CFG)(waves[1:2]))


def test_time_shift_moves_an_impulse_and_zero_fills():
    waves = torch.zeros(64, 1000)
    waves[:, 500] = 1.0
    shifted = time_shift(waves, 100, torch.Generator().manual_seed(0))
    positions = shifted.argmax(dim=1)
    assert (shifted.sum(dim=1) == 1).all()
    assert ((positions - 500).abs() <= 100).all() and len(positions.unique()) > 10
    ramp = torch.arange(1, 1001, dtype=torch.float32).repeat(8, 1)
    moved = time_shift(ramp, 100, torch.Generator().manual_seed(1))
    for row in moved:  # a shifted copy of the ramp with zeros where it ran out
        nz = row.nonzero().flatten()
        assert torch.equal(row[nz], ramp[0][int(row[nz[0]]) - 1:int(row[nz[-1]])])


def test_noise_mixing_volume_and_probability():
    waves = torch.zeros(400, 100)
    noise = torch.ones(1000)
    mixed = mix_noise(waves, noise, AugmentConfig(noise_probability=0.5, noise_volume=0.1),
                      torch.Generator().manual_seed(0))
    level = mixed[:, 0]
    assert torch.equal(mixed, level[:, None].expand_as(mixed))  # constant noise, one volume
    assert (level <= 0.1).all() and (level >= 0).all()
    assert 0.4 < (level > 0).float().mean() < 0.6
    assert torch.equal(mix_noise(waves, noise, AugmentConfig(noise_probability=0.0),
                                 torch.Generator()), waves)
