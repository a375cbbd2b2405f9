"""Sampling through the native speaker: seeded, repeatable, and the caller's RNG left alone."""

from __future__ import annotations

import torch

from higgs_lora.backends import get
from tests.native.conftest import SYSTEM_PROMPT


def test_sampling_is_seeded_and_a_cut_stream_reports_not_stopped(native_text_tokenizer, native_codec) -> None:
    backend = get("native")
    model = backend.load_base_model(str(backend.tiny_model_dir()), None).eval()
    speaker = backend.speaker(model, native_text_tokenizer, native_codec, SYSTEM_PROMPT)
    state = torch.random.get_rng_state()
    first = speaker("Hi.", seed=5, temperature=0.8, top_p=0.9, max_seconds=0.2)
    second = speaker("Hi.", seed=5, temperature=0.8, top_p=0.9, max_seconds=0.2)
    assert torch.equal(torch.random.get_rng_state(), state)  # a speaker runs inside training
    assert torch.equal(first.codes, second.codes) and first.codes.shape == (4, 10)
    assert not first.stopped  # the untrained model never chose EOS within 0.2 s
    assert first.audio.shape == (10 * 320,) and first.sample_rate == 16000
