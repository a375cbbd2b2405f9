"""The mid-size proxy model the CPU benchmarks (and the plan's weight check) use.

Hidden 512, 4 layers, the real 128256-token vocabulary and 8 codebooks x 1024: big enough that the
text head and logits weigh what they do in the real model, small enough for a 2-core CPU.
"""

from __future__ import annotations

from typing import Any


def mid_size_config() -> Any:  # -> HiggsAudioConfig
    from boson_multimodal.model.higgs_audio import HiggsAudioConfig
    from transformers import LlamaConfig

    text = LlamaConfig(
        vocab_size=128256,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=8192,
        bos_token_id=128000,
        eos_token_id=128009,
        pad_token_id=128001,
        tie_word_embeddings=False,
    )
    return HiggsAudioConfig(
        text_config=text.to_dict(),
        audio_adapter_type="dual_ffn_fast_forward",
        audio_dual_ffn_layers=list(range(4)),
        audio_ffn_hidden_size=512,
        audio_ffn_intermediate_size=1536,
        encode_whisper_embed=False,
        encode_audio_in_tokens=True,
        use_delay_pattern=True,
        skip_audio_tower=True,
        audio_num_codebooks=8,
        audio_codebook_size=1024,
        audio_stream_bos_id=1024,
        audio_stream_eos_id=1025,
    )


def proxy_checkpoint(folder: Any) -> Any:
    """Write the proxy (bf16, seeded random weights) and the tiny text tokenizer to `folder` once."""
    from pathlib import Path

    import torch
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    from higgs_lora.model.tiny import build_tiny_text_tokenizer

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            HiggsAudioModel(mid_size_config()).to(torch.bfloat16).save_pretrained(folder)
        build_tiny_text_tokenizer().save_pretrained(folder)
    return folder


def synthetic_samples(
    folder: Any, count: int, seconds: tuple[float, float], codebooks: int, seed: int = 0
) -> list:
    """`count` training samples with random codes of 25 frames/s, lengths spread over `seconds`."""
    import random
    from pathlib import Path

    import torch

    from higgs_lora.data.cache import CodesCache
    from higgs_lora.data.samples import Example

    folder = Path(folder)
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    cache = CodesCache(folder, "synthetic")
    examples = []
    for index in range(count):
        frames = int(25 * rng.uniform(*seconds))
        entry = folder / f"clip{index}.safetensors"
        cache.put(entry, torch.randint(0, 1024, (codebooks, frames), generator=generator), entry)
        words = " ".join(rng.choice(["alpha", "bravo", "delta", "echo", "kilo"]) for _ in range(frames // 10))
        examples.append(Example(words.capitalize() + ".", entry))
    return examples
