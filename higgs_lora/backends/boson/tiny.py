"""The built-in tiny model in boson-multimodal's classes: a seeded random HiggsAudioModel and HiggsAudioTokenizer.

Sizes, the text tokenizer and the cache folder are shared with every backend (`higgs_lora.model.tiny`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from higgs_lora.backends.tiny import (
    NUM_CODEBOOKS,
    TINY_AUDIO_TOKENIZER_CONFIG,
    TINY_SEED,
    TINY_VERSION,
    VOCAB_SIZE,
    seeded,
    tiny_checkpoint_dir,
    tiny_hubert_config,
)


def small_higgs_config(
    hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int, codebooks: int
):  # -> HiggsAudioConfig
    """A Higgs v2-shaped config (dual FFN on every layer, delay pattern, real vocabulary and token ids)
    at a chosen size: the tiny test model and the benchmarks' proxy."""
    from boson_multimodal.model.higgs_audio import HiggsAudioConfig
    from transformers import LlamaConfig

    text = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=8192,
        bos_token_id=128000,
        eos_token_id=128009,
        pad_token_id=128001,
        tie_word_embeddings=False,
    )
    return HiggsAudioConfig(
        text_config=text.to_dict(),
        audio_adapter_type="dual_ffn_fast_forward",
        audio_dual_ffn_layers=list(range(layers)),
        audio_ffn_hidden_size=hidden,
        audio_ffn_intermediate_size=intermediate,
        encode_whisper_embed=False,
        encode_audio_in_tokens=True,
        use_delay_pattern=True,
        skip_audio_tower=True,
        audio_num_codebooks=codebooks,
        audio_codebook_size=1024,
        audio_stream_bos_id=1024,
        audio_stream_eos_id=1025,
    )


def tiny_config():  # -> HiggsAudioConfig
    return small_higgs_config(
        hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, codebooks=NUM_CODEBOOKS
    )


def build_tiny_model():  # -> HiggsAudioModel
    """A seeded random HiggsAudioModel; the same weights on every call (global RNG left untouched)."""
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    with seeded(TINY_SEED):
        model = HiggsAudioModel(tiny_config())
    return model.eval()


def tiny_model_dir() -> Path:
    """Folder holding the tiny model + text tokenizer as a normal checkpoint; built on first use."""
    return tiny_checkpoint_dir(TINY_VERSION, build_tiny_model)


def build_tiny_audio_tokenizer():  # -> HiggsAudioTokenizer
    """A seeded random HiggsAudioTokenizer: 16 kHz, 50 frames/s, 4 codebooks x 1024, offline.

    Its constructor downloads `bosonai/hubert_base` (higgs_audio_tokenizer.py ~L91-95); here the
    module's `AutoModel` is swapped for the duration of the call for a factory returning a random
    one-layer HuBERT (hidden size 768 is hard-coded downstream). The residual-VQ codebooks would
    otherwise be k-means-initialised from the first clip encoded (core_vq.py ~L139), which would make
    codes depend on encoding order, so they are filled with seeded random vectors and marked inited.
    """
    from unittest import mock

    from boson_multimodal.audio_processing import higgs_audio_tokenizer as module
    from transformers import HubertModel

    hubert = tiny_hubert_config()

    class _OfflineHubert:
        @staticmethod
        def from_pretrained(*_args: object, **_kwargs: object) -> HubertModel:
            return HubertModel(hubert)

    with seeded(TINY_SEED), mock.patch.object(module, "AutoModel", _OfflineHubert):
        tokenizer = module.HiggsAudioTokenizer(**TINY_AUDIO_TOKENIZER_CONFIG, device="cpu")
        for name, buffer in tokenizer.named_buffers():
            if name.endswith("_codebook.embed"):
                buffer.copy_(torch.randn_like(buffer))
            elif name.endswith("_codebook.embed_avg"):
                buffer.copy_(tokenizer.get_buffer(name.removesuffix("_avg")))
            elif name.endswith("_codebook.inited"):
                buffer.fill_(1.0)
    return tokenizer.eval()
