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
