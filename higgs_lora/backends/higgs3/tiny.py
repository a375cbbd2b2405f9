"""The higgs3 backend's tiny random model and text tokenizer: seeded, offline, built once.

The real shape scaled down (hidden 64, 2 layers, 4/2 heads of 16, tied text embeddings like
Qwen3-4B), with the real Qwen vocabulary size and the real ids of the prompt's special tokens
(`config.TOKENS`), so prompts mean the same for the tiny and the real model. 4 codebooks × 1026 (the
native tiny codec's 4 codebooks; codes 0-1023 plus BOC/EOC). The codec is the native backend's tiny one:
Higgs TTS 3 uses the v2 audio tokenizer (HIGGS_NOTES §15).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from higgs_lora.backends.higgs3.config import TOKENS, Higgs3Config
from higgs_lora.backends.tiny import TINY_SEED, byte_level_tokenizer, seeded, tiny_checkpoint_dir

TINY_VERSION = "higgs3-v4"
VOCAB_SIZE = 151936
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 1026


def tiny_config() -> Higgs3Config:
    return Higgs3Config(
        text_config={
            "vocab_size": VOCAB_SIZE,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "max_position_embeddings": 8192,
            "rope_theta": 1_000_000.0,
            "tie_word_embeddings": True,
            "pad_token_id": TOKENS["<|endoftext|>"],
            "eos_token_id": TOKENS["<|im_end|>"],
        },
        audio_encoder_config={
            "encoder_type": "discrete",
            "num_codebooks": NUM_CODEBOOKS,
            "vocab_size": CODEBOOK_SIZE,
            "out_dim": 64,
            "tie_word_embeddings": True,
        },
        pad_token_id=TOKENS["<|endoftext|>"],
    )


TABLE_STD = 0.5
"""The tiny audio table's init scale. The head is the frozen table and the final RMSNorm fixes the hidden
norm (~8 at width 64), so with the usual std 0.02 no logit could exceed ~1.3 and LoRA could never make a
code likely (an overfit test plateaued at loss 6.26 of ln 1026 = 6.93, at std 0.25 at 1.1); at std 1 the
random start is so peaked (loss 27) that a 12-step run over 12 clips did not move it. The real table
is trained."""


def build_tiny_model() -> torch.nn.Module:
    """A seeded random model; the same weights on every call."""
    from higgs_lora.backends.higgs3.model import HiggsMultimodalQwen3ForConditionalGeneration

    with seeded(TINY_SEED):
        model = HiggsMultimodalQwen3ForConditionalGeneration(tiny_config())
        with torch.no_grad():
            model.audio_table.embedding.weight.normal_(0.0, TABLE_STD)
    return model.eval()


def build_tiny_text_tokenizer() -> Any:  # -> PreTrainedTokenizerFast
    """Byte-level tokenizer with Qwen's vocabulary size and the prompt's special tokens at their real ids."""
    roles = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    return byte_level_tokenizer(TOKENS, VOCAB_SIZE, 8192, roles, not_additional=set(roles.values()))


def tiny_model_dir() -> Path:
    """Folder holding the tiny model + text tokenizer as a normal checkpoint; built on first use."""
    return tiny_checkpoint_dir(TINY_VERSION, build_tiny_model, build_tiny_text_tokenizer)
