"""The tiny native codec: offline, seeded, the kit's audio-tokenizer duck type."""

from __future__ import annotations

import numpy as np
import torch

from higgs_lora.backends.native.codec import audio_tokenizer_facts, tiny_audio_tokenizer


def test_tiny_codec_round_trips_shapes_and_is_deterministic(native_codec) -> None:
    assert (native_codec.sampling_rate, native_codec.tps, native_codec.num_codebooks) == (16000, 50.0, 4)
    samples = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1  # 0.5 s
    codes = native_codec.encode(samples, 16000)
    assert codes.dtype == torch.long and codes.shape == (4, 25)
    assert int(codes.min()) >= 0 and int(codes.max()) < 1024
    assert len(set(codes[0].tolist())) > 1  # the random codebooks are not degenerate
    again = tiny_audio_tokenizer().encode(samples, 16000)  # a second build: same weights, same codes
    assert torch.equal(codes, again)
    audio = native_codec.decode(codes.unsqueeze(0))
    assert isinstance(audio, np.ndarray) and audio.shape == (1, 1, 25 * 320)
    resampled = native_codec.encode(np.zeros(12000, dtype=np.float32), 24000)  # 0.5 s at 24 kHz
    assert resampled.shape == (4, 25)


def test_facts_come_from_a_meta_construction() -> None:
    frames_per_second, size = audio_tokenizer_facts(None)
    weights = sum(t.numel() * t.element_size() for t in tiny_audio_tokenizer().model.state_dict().values())
    assert frames_per_second == 50.0 and size > 0 and abs(size - weights) / weights < 0.05


def test_facts_of_the_real_layout_and_a_refusal_of_boson_configs() -> None:
    import pytest
    from transformers import DacConfig, HiggsAudioV2TokenizerConfig

    from higgs_lora.core.errors import ModelError

    # transformers' conversion script's config for bosonai/higgs-audio-v2-tokenizer: hop 960 at 24 kHz
    real = HiggsAudioV2TokenizerConfig(
        acoustic_model_config=DacConfig(
            encoder_hidden_size=64,
            downsampling_ratios=[8, 5, 4, 2, 3],
            decoder_hidden_size=1024,
            upsampling_ratios=[8, 5, 4, 2, 3],
            hidden_size=256,
        )
    )
    frames_per_second, size = audio_tokenizer_facts(real.to_dict())
    assert frames_per_second == 25.0 and size > 10**8
    with pytest.raises(ModelError, match="transformers' layout"):
        audio_tokenizer_facts({"n_q": 8, "sample_rate": 24000})  # boson's config.json
