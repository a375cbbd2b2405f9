"""The mid-size proxy model the CPU benchmarks (and the plan's weight check) use.

Hidden 512, 4 layers, the real 128256-token vocabulary and 8 codebooks x 1024: big enough that the
text head and logits weigh what they do in the real model, small enough for a 2-core CPU.
"""

from __future__ import annotations

from typing import Any


def mid_size_config() -> Any:  # -> HiggsAudioConfig
    from higgs_lora.backends.boson.tiny import small_higgs_config

    return small_higgs_config(hidden=512, intermediate=1536, layers=4, heads=8, kv_heads=4, codebooks=8)


def proxy_checkpoint(folder: Any) -> Any:
    """Write the proxy (bf16, seeded random weights) and the tiny text tokenizer to `folder` once."""
    from pathlib import Path

    import torch
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    from higgs_lora.backends.tiny import build_tiny_text_tokenizer

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
    from higgs_lora.higgs.examples import Example

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
