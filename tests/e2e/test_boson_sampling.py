"""The boson speaker samples as boson's serve engine does by default, and its greedy is argmax alone."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
import torch
from boson_multimodal.serve.serve_engine import HiggsAudioServeEngine

from higgs_lora.backends.boson.speaker import generate_settings
from higgs_lora.backends.tiny import build_tiny_text_tokenizer
from higgs_lora.higgs.sampling import SAMPLING
from tests.helpers import installed_backend

SYSTEM_PROMPT = "Generate audio following instruction."


@pytest.fixture(scope="module")
def spied_speaker():
    """A speaker on the tiny model, and what each of its steps ran: the settings generate was given, the
    logits processors, the scores the codes were chosen from, and the codes (RAS and delay pattern
    applied)."""
    backend = installed_backend()
    model = backend.load_base_model(str(backend.tiny_model_dir()), None, torch_dtype=torch.float32).eval()
    seen: dict = {}
    generate, sample_audio_tokens = model.generate, model._sample_audio_tokens

    def spied_generate(**kwargs):
        seen.update(kwargs=kwargs, steps=[])
        return generate(**kwargs)

    def spied_sample_audio_tokens(**kwargs):
        out = sample_audio_tokens(**kwargs)
        seen["processors"] = list(kwargs["logits_processor"])
        seen["ras_win_len"] = kwargs["generation_config"].generation_kwargs["ras_win_len"]
        seen["steps"].append((out[1].clone(), out[3].clone()))  # codes, scores
        return out

    model.generate, model._sample_audio_tokens = spied_generate, spied_sample_audio_tokens
    speaker = backend.speaker(
        model, build_tiny_text_tokenizer(), backend.tiny_audio_tokenizer(), SYSTEM_PROMPT
    )
    return speaker, seen


def test_the_defaults_are_the_serve_engines() -> None:
    engine = inspect.signature(HiggsAudioServeEngine.generate).parameters
    assert (SAMPLING.temperature, SAMPLING.top_p, SAMPLING.top_k) == tuple(
        engine[name].default for name in ("temperature", "top_p", "top_k")
    )
    assert (SAMPLING.ras_window, SAMPLING.ras_max_repeats) == (
        engine["ras_win_len"].default,
        engine["ras_win_max_num_repeat"].default,
    )


def test_sampling_passes_what_the_serve_engine_passes(spied_speaker) -> None:
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    speaker, seen = spied_speaker
    assert speaker.sampling == SAMPLING
    speaker("Hi.", seed=1, max_seconds=0.1)
    engine = {
        name: p.default for name, p in inspect.signature(HiggsAudioServeEngine.generate).parameters.items()
    }
    wanted = {
        "do_sample": engine["temperature"] != 0.0,  # the engine's own rule
        **{
            name: engine[name]
            for name in ("temperature", "top_k", "top_p", "ras_win_len", "ras_win_max_num_repeat")
        },
    }
    assert {name: seen["kwargs"][name] for name in wanted} == wanted
    assert [type(p) for p in seen["processors"]] == [TemperatureLogitsWarper, TopPLogitsWarper], "no top-k"
    assert seen["ras_win_len"] == SAMPLING.ras_window


def test_greedy_is_argmax_and_the_same_for_every_seed(spied_speaker) -> None:
    """A RAS that resampled any code seen once in 7 frames would change most of them: greedy runs none."""
    speaker, seen = spied_speaker
    bos, eos = speaker.model.config.audio_stream_bos_id, speaker.model.config.audio_stream_eos_id
    speaker.sampling = replace(SAMPLING, ras_max_repeats=1)
    try:
        runs = []
        for seed in (1, 2):
            runs.append(speaker("Hi.", seed=seed, temperature=0.0, max_seconds=0.3))
            assert seen["kwargs"]["do_sample"] is False and seen["ras_win_len"] is None
            assert seen["processors"] == []
            for codes, scores in seen["steps"]:
                # The delay pattern forces BOS into the codebooks not started yet, EOS after a stop.
                chosen = (codes != bos) & (codes != eos)
                assert torch.equal(codes[chosen], scores.argmax(-1)[chosen])
    finally:
        speaker.sampling = SAMPLING
    assert torch.equal(runs[0].codes, runs[1].codes) and runs[0].codes.shape == (4, 15)


def test_greedy_drops_everything_that_draws() -> None:
    settings = generate_settings(replace(SAMPLING, temperature=0.0, top_k=50))
    assert settings["do_sample"] is False and settings["top_k"] is None and settings["ras_win_len"] is None
    assert settings["top_p"] == 1.0
