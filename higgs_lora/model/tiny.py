"""The built-in tiny model: small, seeded, randomly initialised Higgs classes that need no download.

`base = "tiny-random"` and `audio_tokenizer = "tiny-random"` in a recipe select them. The text side keeps
the real Llama-3 vocabulary size and the real special-token ids (128000-128016, pad 128001), so the
collator settings and token ids mean the same as for the real checkpoint; plain text is mapped to a
byte-level range. The model is written once to a cache folder and then loaded through the same
`from_pretrained` path (4-bit included) as a real checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

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


def cache_home() -> Path:
    """Where the kit keeps built artefacts ($HIGGS_LORA_HOME, default ~/.cache/higgs-lora)."""
    return Path(os.environ.get("HIGGS_LORA_HOME", Path.home() / ".cache" / "higgs-lora"))


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

    with _seeded(TINY_SEED):
        model = HiggsAudioModel(tiny_config())
    return model.eval()


def build_tiny_text_tokenizer():  # -> PreTrainedTokenizerFast
    """Byte-level tokenizer whose special tokens carry the real Llama-3/Higgs ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(byte_alphabet))}
    # Fill every other id so the vocabulary has no holes (the BPE model has no merges, so these
    # placeholders are never produced from text) and the special tokens sit at their real ids.
    by_id = {index: token for token, index in SPECIAL_TOKENS.items()}
    for index in range(len(vocab), VOCAB_SIZE):
        vocab[by_id.get(index, f"<|unused_{index}|>")] = index
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>",
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in {"<|begin_of_text|>", "<|eot_id|>"}],
    )
    tokenizer.model_max_length = 4096
    return tokenizer


def tiny_model_dir() -> Path:
    """Folder holding the tiny model + text tokenizer as a normal checkpoint; built on first use."""
    target = cache_home() / f"tiny-random-{TINY_VERSION}-torch{torch.__version__.split('+')[0]}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        build_tiny_model().save_pretrained(staging, safe_serialization=True)
        build_tiny_text_tokenizer().save_pretrained(staging)
        with contextlib.suppress(FileExistsError, OSError):
            staging.rename(target)  # atomic; a concurrent builder may have won the race
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


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

    with _seeded(TINY_SEED), mock.patch.object(module, "AutoModel", _OfflineHubert):
        tokenizer = module.HiggsAudioTokenizer(**TINY_AUDIO_TOKENIZER_CONFIG, device="cpu")
        for name, buffer in tokenizer.named_buffers():
            if name.endswith("_codebook.embed"):
                buffer.copy_(torch.randn_like(buffer))
            elif name.endswith("_codebook.embed_avg"):
                buffer.copy_(tokenizer.get_buffer(name.removesuffix("_avg")))
            elif name.endswith("_codebook.inited"):
                buffer.fill_(1.0)
    return tokenizer.eval()


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
