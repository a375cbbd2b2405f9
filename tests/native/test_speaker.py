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


def _speaker_and_spy(native_text_tokenizer, native_codec, **checkpoint_settings):
    """A speaker on the tiny model whose generation_config holds `checkpoint_settings` (as a converted
    checkpoint's does), and what its last generation ran: its effective config, its logits processors,
    the scores each step's codes were chosen from (after every processor), the codes."""
    backend = get("native")
    model = backend.load_base_model(str(backend.tiny_model_dir()), None).eval()
    for key, value in checkpoint_settings.items():
        setattr(model.generation_config, key, value)
    seen: dict = {}
    get_processors, generate = model._get_logits_processor, model.generate

    def processors(*args, generation_config, **kwargs):
        found = get_processors(*args, generation_config=generation_config, **kwargs)
        seen.update(config=generation_config, processors=list(found), scores=[])
        found.append(lambda input_ids, scores: seen["scores"].append(scores.clone()) or scores)
        return found

    def spied_generate(*args, **kwargs):
        out = generate(*args, **kwargs)
        seen["stream"] = out.audio_sequences[0].clone()  # [steps, C]: no reference, no prompt frames
        return out

    model._get_logits_processor, model.generate = processors, spied_generate
    return backend.speaker(model, native_text_tokenizer, native_codec, SYSTEM_PROMPT), seen


def test_greedy_is_argmax_whatever_the_checkpoint_and_the_seed(native_text_tokenizer, native_codec) -> None:
    """transformers fills RAS in from a converted checkpoint's generation_config; greedy must not resample
    (a window of 7 that resamples any code seen once would change most frames)."""
    speaker, seen = _speaker_and_spy(
        native_text_tokenizer, native_codec, ras_win_len=7, ras_win_max_num_repeat=1, top_k=50, do_sample=True
    )
    runs = []
    for seed in (1, 2):
        runs.append(speaker("Hi.", seed=seed, temperature=0.0, max_seconds=0.3))
        chosen = torch.stack([scores.argmax(-1) for scores in seen["scores"]])  # [steps, C]
        assert torch.equal(seen["stream"], chosen), "every code is the argmax of its step's scores"
    assert torch.equal(runs[0].codes, runs[1].codes) and runs[0].codes.shape == (4, 15)
    config = seen["config"]
    assert config.do_sample is False and getattr(config, "ras_win_len", None) is None
    assert [type(p).__name__ for p in seen["processors"]] == ["HiggsAudioV2DelayPatternLogitsProcessor"]
    assert speaker.model.generation_config.ras_win_len == 7, "the checkpoint's own settings are left as found"


def test_sampling_takes_the_shared_defaults_and_no_top_k(native_text_tokenizer, native_codec) -> None:
    """`top_k=None` would become the checkpoint's 50 (or transformers' default 50); a checkpoint's own
    temperature, top-p or RAS must not leak in either."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from higgs_lora.higgs.sampling import SAMPLING

    speaker, seen = _speaker_and_spy(
        native_text_tokenizer, native_codec, top_k=50, top_p=0.5, temperature=1.3, ras_win_len=3
    )
    assert speaker.sampling == SAMPLING and SAMPLING.top_k is None
    speaker("Hi.", seed=1, max_seconds=0.1)
    config = seen["config"]
    assert config.do_sample is True and config.top_k == 0
    assert (config.ras_win_len, config.ras_win_max_num_repeat) == (
        SAMPLING.ras_window,
        SAMPLING.ras_max_repeats,
    )
    names = [type(p).__name__ for p in seen["processors"]]
    assert names == ["HiggsAudioV2DelayPatternLogitsProcessor", "TemperatureLogitsWarper", "TopPLogitsWarper"]
    temperature, top_p = seen["processors"][1:]
    assert (
        isinstance(temperature, TemperatureLogitsWarper) and temperature.temperature == SAMPLING.temperature
    )
    assert isinstance(top_p, TopPLogitsWarper) and top_p.top_p == SAMPLING.top_p
