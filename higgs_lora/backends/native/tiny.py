"""The native backend's tiny random model and codec: seeded, offline, built once into $HIGGS_LORA_HOME.

Same shape as the boson backend's tiny model (hidden 64, 2 layers, 4 codebooks, the real Llama-3
vocabulary size and special-token ids) and the same text tokenizer (`higgs_lora.model.tiny`), but its
own seeded weights: the two tiny models are not the same network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from higgs_lora.backends.tiny import (
    NUM_CODEBOOKS,
    SPECIAL_TOKENS,
    TINY_SEED,
    VOCAB_SIZE,
    seeded,
    tiny_checkpoint_dir,
)

TINY_VERSION = "native-v1"
CODEBOOK_SIZE = 1024
"""Codec codebook size; the model's `codebook_size` adds the stream BOS (1024) and EOS (1025)."""


def tiny_config() -> Any:  # -> HiggsAudioV2Config
    """The boson tiny model's shape in the native config: plain RoPE (theta 10000) as its LlamaConfig."""
    from transformers import HiggsAudioV2Config

    return HiggsAudioV2Config(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=8192,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=128000,
        eos_token_id=128009,
        pad_token_id=128001,
        tie_word_embeddings=False,
        num_codebooks=NUM_CODEBOOKS,
        codebook_size=CODEBOOK_SIZE + 2,
        audio_token_id=SPECIAL_TOKENS["<|AUDIO_OUT|>"],
        audio_bos_token_id=SPECIAL_TOKENS["<|audio_out_bos|>"],
        audio_delay_token_id=128014,
        audio_stream_bos_id=CODEBOOK_SIZE,
        audio_stream_eos_id=CODEBOOK_SIZE + 1,
    )


def build_tiny_model() -> torch.nn.Module:
    """A seeded random model with the text head; the same weights on every call.

    The plain class, so `save_pretrained` writes its name into config.json's `architectures`."""
    from transformers import HiggsAudioV2ForConditionalGeneration

    with seeded(TINY_SEED):
        model = HiggsAudioV2ForConditionalGeneration(tiny_config(), use_text_head=True)
    return model.eval()


def tiny_model_dir() -> Path:
    """Folder holding the tiny model + text tokenizer as a normal native checkpoint; built on first use."""
    return tiny_checkpoint_dir(TINY_VERSION, build_tiny_model)


def tiny_codec_config() -> Any:  # -> HiggsAudioV2TokenizerConfig
    """16 kHz, hop 320 (50 frames/s), 4 codebooks x 1024 (2 kbps), a one-layer 32-wide HuBERT."""
    from transformers import HiggsAudioV2TokenizerConfig

    return HiggsAudioV2TokenizerConfig(
        sample_rate=16000,
        semantic_sample_rate=16000,
        downsample_factor=320,
        target_bandwidths=[0.5, 1.0, 1.5, 2.0],
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=8,
        acoustic_model_config={
            "encoder_hidden_size": 16,
            "downsampling_ratios": [8, 5, 4, 2],
            "decoder_hidden_size": 64,
            "upsampling_ratios": [8, 5, 4, 2],
            "hidden_size": 32,
        },
        semantic_model_config={
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "conv_dim": [16] * 7,
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 4,
        },
    )


def build_tiny_codec() -> torch.nn.Module:
    """A seeded random `HiggsAudioV2TokenizerModel`, built offline (no HuBERT download).

    `_init_weights` zeroes every RVQ codebook, which would map all frames to code 0: the codebooks are
    filled with seeded random vectors instead, at the scale of the projected frames (std 0.01; at std 1
    every frame of a clip picks the same code).
    """
    from transformers import HiggsAudioV2TokenizerModel

    with seeded(TINY_SEED):
        codec = HiggsAudioV2TokenizerModel(tiny_codec_config())
        with torch.no_grad():
            for name, buffer in codec.named_buffers():
                if name.endswith("codebook.embed"):
                    buffer.copy_(torch.randn_like(buffer) * 0.01)
                elif name.endswith("codebook.embed_avg"):
                    buffer.copy_(codec.get_buffer(name.removesuffix("_avg")))
    return codec.eval()
