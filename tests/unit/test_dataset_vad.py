"""The real silero VAD + cutting on a long file made from the shipped clips with known pauses."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from higgs_lora.dataset.cut import Limits, plan_cuts
from higgs_lora.dataset.vad import VAD_RATE, detect_speech, speech_probabilities
from tests.recordings import long_recording


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory):
    rec = long_recording(tmp_path_factory.mktemp("vad") / "long.wav", repeats=5, seed=1, pauses=(0.35, 1.2))
    audio, rate = soundfile.read(str(rec.path), dtype="float32")
    return rec, librosa.resample(audio, orig_sr=rate, target_sr=VAD_RATE)


@pytest.mark.parametrize("limits", [Limits(), Limits(min_seconds=2.0, max_seconds=6.0)])
def test_cuts_land_in_pauses_within_limits_and_lose_no_speech(recording, limits: Limits) -> None:
    rec, audio = recording
    speech = detect_speech(audio)
    cuts, rejected = plan_cuts(speech.segments, rec.seconds, limits)
    assert not rejected
    for cut in cuts:
        assert limits.min_seconds <= cut.seconds <= limits.max_seconds
        for t in (cut.start, cut.end):  # a cut never falls inside one of the spoken clips
            assert not any(start < t < end for start, end, _ in rec.spoken), t
    for start, end, text in rec.spoken:  # every spoken clip is inside exactly one output clip
        assert sum(c.start <= start and end <= c.end for c in cuts) == 1, text
    assert sum(c.seconds for c in cuts) > 0.9 * sum(end - start for start, end, _ in rec.spoken)


def test_batched_vad_matches_the_sequential_model(recording) -> None:
    _, audio = recording
    batched = speech_probabilities(audio[: 60 * VAD_RATE], rows=16)
    sequential = speech_probabilities(audio[: 60 * VAD_RATE], rows=1)
    assert batched.shape == sequential.shape
    # rows start from ~1 s of warm-up context: decisions agree almost everywhere
    assert np.mean((batched >= 0.5) == (sequential >= 0.5)) > 0.99


def test_silence_and_noise_hold_no_speech(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    assert detect_speech(np.zeros(5 * VAD_RATE, dtype=np.float32)).segments == []
    assert detect_speech(rng.normal(0, 0.01, 5 * VAD_RATE).astype(np.float32)).segments == []
