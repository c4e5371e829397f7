"""Log-mel spectrograms and waveform augmentation, computed on whole batches with PyTorch.

Tang & Lin (2018) feed their networks 40 mel bands of 30 ms windows every 10 ms of 16 kHz
audio, band-limited to 20 Hz .. 4 kHz; one second gives 1 x 40 x 101 (``torch.stft``
centres its frames, so there are 1 + 16000 / 160 of them). Training augmentation follows
Warden's Speech Commands recipe: a random time shift of up to 100 ms and, for 80% of the
clips, a random stretch of background noise at a random volume up to 0.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import DataError


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000  # Hz; other rates are resampled when files are read
    clip_samples: int = 16000  # samples per clip: 1 s (shorter clips are zero-padded)
    window: int = 480  # samples per analysis window (30 ms) and FFT size
    hop: int = 160  # samples between windows (10 ms)
    mel_bands: int = 40  # triangular mel filters
    f_min: float = 20.0  # Hz, lowest edge of the filterbank (the paper's band-pass)
    f_max: float = 4000.0  # Hz, highest edge of the filterbank
    log_floor: float = 1e-6  # added to the mel energies before the log (silence stays finite)

    @property
    def frames(self) -> int:
        """Spectrogram frames of one clip (centred windows)."""
        return 1 + self.clip_samples // self.hop


@dataclass(frozen=True)
class AugmentConfig:
    max_shift: int = 1600  # samples (100 ms): clips move by a uniform shift in +-this
    noise_probability: float = 0.8  # share of clips that get background noise mixed in
    noise_volume: float = 0.1  # noise is scaled by a uniform factor in [0, this]


def hz_to_mel(hz: torch.Tensor | float) -> torch.Tensor:
    """HTK's mel scale: 2595 log10(1 + f / 700) (1000 Hz is about 1000 mel)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """bands x (window / 2 + 1) triangular filters, evenly spaced on the mel scale.

    Filter m rises linearly from centre m-1 to 1 at centre m and falls to 0 at centre m+1
    (the centres include f_min and f_max as outer edges); no area normalisation.
    """
    if not 0 <= cfg.f_min < cfg.f_max <= cfg.sample_rate / 2:
        raise DataError(f"mel filterbank needs 0 <= f_min < f_max <= {cfg.sample_rate / 2} "
                        f"Hz, got {cfg.f_min} and {cfg.f_max}")
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(cfg.f_min)), float(hz_to_mel(cfg.f_max)),
                                     cfg.mel_bands + 2, dtype=torch.float64))
    bins = torch.arange(cfg.window // 2 + 1, dtype=torch.float64) * cfg.sample_rate / cfg.window
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - low) / (centre - low)
    falling = (high - bins) / (high - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMel(nn.Module):
    """Waveforms N x T (float, [-1, 1]) -> log-mel spectrograms N x 1 x bands x frames."""

    def __init__(self, cfg: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", torch.hann_window(cfg.window, periodic=True),
                             persistent=False)
        self.register_buffer("filters", mel_filterbank(cfg), persistent=False)

    def power_spectrogram(self, waves: torch.Tensor) -> torch.Tensor:
        """|STFT|^2: N x (window / 2 + 1) x frames."""
        spec = torch.stft(waves, n_fft=self.cfg.window, hop_length=self.cfg.hop,
                          window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        return spec.abs().square()

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(self.filters, self.power_spectrogram(waves.to(self.window.dtype)))
        return torch.log(mel + self.cfg.log_floor).unsqueeze(1)


def time_shift(waves: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Move every clip by its own uniform shift in [-max_shift, max_shift], zero-filling."""
    n, length = waves.shape
    shift = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=gen,
                          device=waves.device)
    source = torch.arange(length, device=waves.device) - shift
    inside = (source >= 0) & (source < length)
    return waves.gather(1, source.clamp(0, length - 1)) * inside


def mix_noise(waves: torch.Tensor, noise: torch.Tensor, cfg: AugmentConfig,
              gen: torch.Generator) -> torch.Tensor:
    """Add a random stretch of ``noise`` (1-D, at least one clip long) to a share of clips."""
    n, length = waves.shape
    if len(noise) < length:
        raise DataError(f"background noise holds {len(noise)} samples, fewer than one clip "
                        f"({length})")
    start = torch.randint(0, len(noise) - length + 1, (n, 1), generator=gen,
                          device=waves.device)
    stretch = noise[start + torch.arange(length, device=waves.device)]
    volume = torch.rand(n, 1, generator=gen, device=waves.device) * cfg.noise_volume
    mixed = torch.rand(n, 1, generator=gen, device=waves.device) < cfg.noise_probability
    return (waves + stretch * volume * mixed).clamp(-1.0, 1.0)


class Featurizer:
    """The loader's per-batch step: int16 clips -> (augmented) waveforms -> log-mel.

    Called as ``featurizer(batch, generator)`` by :class:`resnets.data.InMemoryLoader`,
    which then normalises the spectrograms with the training set's mean and std.
    """

    def __init__(self, device: torch.device, cfg: FeatureConfig = FeatureConfig(),
                 augment: AugmentConfig | None = None,
                 noise: torch.Tensor | None = None) -> None:
        self.logmel = LogMel(cfg).to(device)
        self.augment = augment
        self.noise = None if noise is None or not len(noise) else noise.to(device)

    def waveforms(self, clips: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        waves = clips.float() / 32768.0
        if self.augment is not None and gen is not None:
            waves = time_shift(waves, self.augment.max_shift, gen)
            if self.noise is not None:
                waves = mix_noise(waves, self.noise, self.augment, gen)
        return waves

    def __call__(self, clips: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        return self.logmel(self.waveforms(clips, gen))


def spectrogram_stats(clips: torch.Tensor, featurizer: Featurizer,
                      chunk: int = 512) -> tuple[float, float]:
    """Mean and standard deviation of the log-mel values of int16 ``clips`` (no augmentation)."""
    total, squares, count = 0.0, 0.0, 0
    for start in range(0, len(clips), chunk):
        feats = featurizer(clips[start:start + chunk].to(featurizer.logmel.window.device))
        total += float(feats.double().sum())
        squares += float(feats.double().square().sum())
        count += feats.numel()
    mean = total / count
    return mean, math.sqrt(max(squares / count - mean * mean, 1e-12))
