"""Whisper plumbing with a tiny random Whisper built offline (its words are random letters)."""

from __future__ import annotations

import numpy as np
import pytest

from higgs_lora.asr import DEFAULT_CPU_MODEL, DEFAULT_GPU_MODEL, Transcriber, Transcript, default_asr_model
from higgs_lora.core.errors import ModelError


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber("tiny-random", device="cpu", language="en", max_new_tokens=12)


def test_defaults_per_device() -> None:
    assert default_asr_model("cuda") == DEFAULT_GPU_MODEL == "openai/whisper-large-v3-turbo"
    assert default_asr_model("cpu") == DEFAULT_CPU_MODEL


def test_batch_of_clips_gives_text_and_word_times_inside_each_clip(transcriber: Transcriber) -> None:
    rng = np.random.default_rng(0)
    clips = [rng.normal(0, 0.1, int(16000 * s)).astype(np.float32) for s in (3.0, 1.5, 41.0)]
    out = transcriber.transcribe(clips)
    assert len(out) == 3 and all(isinstance(t, Transcript) for t in out)
    assert transcriber.word_timestamps
    for transcript, clip in zip(out, clips, strict=True):
        assert transcript.text and transcript.words
        assert " ".join(w.text for w in transcript.words).replace(" ", "") == transcript.text.replace(" ", "")
        assert all(0 <= w.start <= w.end <= len(clip) / 16000 + 0.02 for w in transcript.words)


def test_resamples_other_rates(transcriber: Transcriber) -> None:
    clip = np.random.default_rng(1).normal(0, 0.1, 44100 * 2).astype(np.float32)
    assert transcriber.transcribe([clip], sample_rate=44100)[0].text


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match=r"--language 'xx'.*does not know this language.*\ben\b"):
        Transcriber("tiny-random", device="cpu", language="xx")


def test_missing_model_names_the_flag_and_fix(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"--asr-model .*cannot load it.*local folder"):
        Transcriber(str(tmp_path / "no-such-model"), device="cpu")
