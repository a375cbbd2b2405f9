"""The built-in tiny model's backend-neutral parts: its text tokenizer, sizes, seed and cache folder.

`base = "tiny-random"` and `audio_tokenizer = "tiny-random"` in a recipe select a small, seeded, randomly
initialised model and codec that need no download; each backend builds them from its own classes
(`backends/*/tiny.py`) around what is here. The text side keeps
the real Llama-3 vocabulary size and the real special-token ids (128000-128016, pad 128001), so the
collator settings and token ids mean the same as for the real checkpoint; plain text is mapped to a
byte-level range. The model is written once to a cache folder and then loaded through the same
`from_pretrained` path (4-bit included) as a real checkpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from higgs_lora.core.fileio import cache_home

TINY_VERSION = "v2"
TINY_SEED = 1234
VOCAB_SIZE = 128256
NUM_CODEBOOKS = 4

# Llama-3.1 special tokens plus the Higgs audio tokens, at the ids the real tokenizer gives them.
SPECIAL_TOKENS = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eom_id|>": 128008,
    "<|eot_id|>": 128009,
    "<|audio_bos|>": 128011,
    "<|audio_eos|>": 128012,
    "<|audio_out_bos|>": 128013,
    "<|recipient|>": 128014,
    "<|AUDIO|>": 128015,
    "<|AUDIO_OUT|>": 128016,
}


def tiny_checkpoint_dir(
    version: str, build_model: Callable[[], Any], build_tokenizer: Callable[[], Any] | None = None
) -> Path:
    """A folder holding a tiny model (`build_model()`) + a tiny text tokenizer (`build_tokenizer()`,
    default the Llama-3 one below) as a normal checkpoint, built once per version and torch release,
    atomically (a concurrent builder may win the race)."""
    import contextlib
    import shutil
    import tempfile

    target = cache_home() / f"tiny-random-{version}-torch{torch.__version__.split('+')[0]}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        build_model().save_pretrained(staging, safe_serialization=True)
        (build_tokenizer or build_tiny_text_tokenizer)().save_pretrained(staging)
        with contextlib.suppress(FileExistsError, OSError):
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_text_tokenizer():  # -> PreTrainedTokenizerFast
    """Byte-level tokenizer whose special tokens carry the real Llama-3/Higgs ids."""
    return byte_level_tokenizer(
        SPECIAL_TOKENS,
        VOCAB_SIZE,
        4096,
        {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|end_of_text|>"},
        not_additional={"<|begin_of_text|>", "<|eot_id|>"},
    )


def byte_level_tokenizer(
    special_tokens: dict[str, int],
    vocab_size: int,
    max_length: int,
    roles: dict[str, str],
    not_additional: set[str],
):  # -> PreTrainedTokenizerFast
    """A byte-level tokenizer of `vocab_size` ids with `special_tokens` at their real ids (each tiny
    model's text tokenizer): `roles` names bos/eos/pad tokens, the other special tokens but
    `not_additional` are additional special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(byte_alphabet))}
    # Fill every other id so the vocabulary has no holes (the BPE model has no merges, so these
    # placeholders are never produced from text) and the special tokens sit at their real ids.
    by_id = {index: token for token, index in special_tokens.items()}
    for index in range(len(vocab), vocab_size):
        vocab[by_id.get(index, f"<|unused_{index}|>")] = index
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **roles,
        additional_special_tokens=[t for t in special_tokens if t not in not_additional],
    )
    tokenizer.model_max_length = max_length
    return tokenizer


# Constructor arguments, as boson's config.json for an audio tokenizer holds them.
TINY_AUDIO_TOKENIZER_CONFIG = {
    "sample_rate": 16000,
    "ratios": [8, 5, 4, 2],
    "D": 64,
    "n_q": NUM_CODEBOOKS,
    "bins": 1024,
    "codebook_dim": 8,
}


def tiny_hubert_config():  # -> HubertConfig
    """The tiny tokenizer's HuBERT: one layer; hidden size 768 is hard-coded downstream in boson."""
    from transformers import HubertConfig

    return HubertConfig(
        hidden_size=768,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=256,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
