"""Keyword spotting: WAV reading, log-mel features, the Speech Commands layout, a demo set.

``resnets train data.dataset=speech data.root=DIR model.name=res8`` trains through the
normal engine (see :mod:`resnets.speech.data`); ``resnets speech`` adds demo, train,
evaluate and predict commands (docs/speech.md).
"""

from .features import AugmentConfig, FeatureConfig, LogMel, mel_filterbank
from .wav import read_wav, write_wav

from . import data  # noqa: F401 (registers the data.dataset=speech pipeline)

__all__ = ["AugmentConfig", "FeatureConfig", "LogMel", "mel_filterbank", "read_wav",
           "write_wav"]
