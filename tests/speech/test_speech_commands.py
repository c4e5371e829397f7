"""The Speech Commands layout: splits from the lists or the hash rule, resampling, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resnets.errors import DataError
from resnets.speech.commands import hash_split, load_speech_commands, word_folders
from resnets.speech.wav import write_wav


def test_splits_follow_the_lists(commands):
    data = load_speech_commands(str(commands), show_progress=False)
    assert data.train.classes == ["chirp", "noise", "tone"]
    assert (len(data.train), len(data.val), len(data.test)) == (18, 9, 9)
    assert data.train.images.dtype == torch.int16 and data.train.images.shape[1] == 16000
    assert torch.bincount(data.test.labels).tolist() == [3, 3, 3]
    assert len(data.noise) == 32000 and data.skipped == []


def test_other_rates_are_resampled_and_long_clips_cut(commands):
    t = np.arange(8000) / 8000
    write_wav(commands / "tone" / "slow_nohash_0.wav", 0.5 * np.sin(2 * np.pi * 500 * t), 8000)
    write_wav(commands / "tone" / "long_nohash_0.wav", np.full(40000, 0.25), 16000)
    data = load_speech_commands(str(commands), show_progress=False)
    assert len(data.train) == 20
    clips = data.train.images[data.train.labels == 2].float() / 32767
    long_clip = clips[0]  # "long" sorts first among the tone files
    assert torch.allclose(long_clip, torch.full((16000,), 0.25), atol=1e-4)
    slow = clips[1]  # 1 s at 8 kHz -> 16000 samples of a 500 Hz tone
    spectrum = torch.fft.rfft(slow).abs()
    assert int(spectrum.argmax()) == 500 and slow.abs().max() == pytest.approx(0.5, abs=0.02)


def test_hash_rule_without_lists(commands):
    (commands / "validation_list.txt").unlink()
    (commands / "testing_list.txt").unlink()
    assert hash_split("yes/abc_nohash_0.wav") == hash_split("no/abc_nohash_3.wav")
    splits = [hash_split(f"w/speaker{i}_nohash_0.wav") for i in range(3000)]
    assert abs(splits.count("val") / 3000 - 0.1) < 0.02
    assert abs(splits.count("test") / 3000 - 0.1) < 0.02
    extra = [f"extra{i}_nohash_0.wav" for i in range(40)]
    for name in extra:
        write_wav(commands / "tone" / name, np.zeros(100), 16000)
    data = load_speech_commands(str(commands), show_progress=False)
    names = [f"spk{i}_nohash_0.wav" for i in range(12)]
    expected = 3 * sum(hash_split(n) == "test" for n in names)
    assert len(data.test) == expected + sum(hash_split(n) == "test" for n in extra) > 0


def test_bad_files_fail_or_are_counted(commands):
    (commands / "tone" / "broken.wav").write_bytes(b"")
    with pytest.raises(DataError, match="broken.wav: empty file"):
        load_speech_commands(str(commands), show_progress=False)
    data = load_speech_commands(str(commands), skip_bad=True, show_progress=False)
    assert len(data.skipped) == 1 and "broken.wav" in data.skipped[0]
    assert len(data.train) + len(data.val) + len(data.test) == 36


def test_layout_errors(commands, tmp_path):
    with open(commands / "testing_list.txt", "a") as f:
        f.write("tone/ghost.wav\n")
    with pytest.raises(DataError, match=r"testing_list.txt:10: lists 'tone/ghost.wav'"):
        load_speech_commands(str(commands), show_progress=False)
    with pytest.raises(DataError, match="does not exist"):
        word_folders(tmp_path / "nowhere")
    (tmp_path / "one" / "yes").mkdir(parents=True)
    write_wav(tmp_path / "one" / "yes" / "a.wav", np.zeros(10), 16000)
    with pytest.raises(DataError, match="1 word folders"):
        word_folders(tmp_path / "one")
