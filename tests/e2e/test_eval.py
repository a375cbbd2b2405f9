"""`higgs-lora eval` end to end on the tiny model, and the stopping signal it relies on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from higgs_lora.model.load import resolve_base
from higgs_lora.model.tiny import build_tiny_audio_tokenizer, build_tiny_text_tokenizer
from higgs_lora.speak import Speaker


@contextlib.contextmanager
def eos_logit(model, value: float, after_frames: int = 0) -> Iterator[None]:
    """Set the audio head's stream-EOS logit to `value` (-inf: never stops) from frame `after_frames` on."""
    eos = model.config.audio_stream_eos_id
    frames = [0]

    def hook(module, args, kwargs, output):
        if output.audio_logits is not None and output.audio_logits.numel():
            frames[0] += 1
            output.audio_logits[..., eos] = value if frames[0] > after_frames else float("-inf")
        return output

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def tiny_speaker() -> Speaker:
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    model = HiggsAudioModel.from_pretrained(resolve_base("tiny-random"), torch_dtype=torch.float32).eval()
    return Speaker(model, build_tiny_text_tokenizer(), build_tiny_audio_tokenizer())


def test_speech_says_whether_generation_stopped(tiny_speaker: Speaker) -> None:
    model = tiny_speaker.model
    with eos_logit(model, float("-inf")):  # a model that never emits EOS runs into the limit
        endless = tiny_speaker("Hello there.", seed=1, max_seconds=0.5)
    assert not endless.stopped and endless.seconds == pytest.approx(0.5)
    with eos_logit(model, 1e4, after_frames=10):  # EOS wins from the 11th frame on
        stopped = tiny_speaker("Hello there.", seed=1, max_seconds=0.5)
    assert stopped.stopped and 0 < stopped.seconds < 0.5
    with eos_logit(model, 1e4):  # stops at once: no frames, silence rather than a decoder crash
        silent = tiny_speaker("Hello there.", seed=1, max_seconds=0.5)
    assert silent.stopped and silent.audio.size == 0 and np.isfinite(silent.audio).all()
