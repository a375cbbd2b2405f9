"""A checkpoint's config.json mapped between the boson and native layouts (the fields transformers'
conversion script maps, with the values it fills in), so each backend can read the other's architecture."""

from __future__ import annotations

from typing import Any

from higgs_lora.core.errors import HiggsLoraError

# Config fields whose values change the network: the native class hard-codes the boson settings below.
_REQUIRED_BOSON = {
    "audio_adapter_type": "dual_ffn_fast_forward",
    "skip_audio_tower": True,
    "encode_audio_in_tokens": True,
    "use_audio_out_embed_projector": False,
    "use_audio_out_self_attention": False,
    "use_rq_transformer": False,
    "audio_embed_avg": False,
    "audio_decoder_proj_num_layers": 0,
}


# Token ids the native class has but boson's config does not: transformers' conversion script's values.
NATIVE_DELAY_TOKEN_ID = 128014


NATIVE_EOS_TOKEN_ID = 128009


_SHARED_TEXT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
    "pretraining_tp",
    "attention_bias",
    "attention_dropout",
    "mlp_bias",
)


# transformers' LlamaConfig defaults (boson's text_config), used for a field its config.json omits: the native
# class defaults differ for some (rms_norm_eps 1e-5, not 1e-6), which would change the network silently.
_LLAMA_DEFAULTS = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-6,
    "pretraining_tp": 1,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
}


def native_config_from_boson(config: dict[str, Any]) -> dict[str, Any]:
    """A `HiggsAudioV2Config` dict (config.json) for a boson `HiggsAudioConfig` dict.

    Refuses boson variants the native class cannot express (another adapter type, dual FFN on only some
    layers, an audio tower, audio FFN of another size). Field mapping follows transformers'
    `convert_higgs_audio_v2_to_hf.py`; the codebook size includes the stream BOS/EOS (1024 → 1026)."""
    text = {**_LLAMA_DEFAULTS, **(config.get("text_config") or {})}
    text.setdefault("num_key_value_heads", text["num_attention_heads"])
    problems = [
        f"{key} = {config.get(key)!r} (native needs {value!r})"
        for key, value in _REQUIRED_BOSON.items()
        if config.get(key, value) != value
    ]
    layers = text.get("num_hidden_layers")
    if sorted(config.get("audio_dual_ffn_layers") or []) != list(range(layers or 0)):
        problems.append(
            f"audio_dual_ffn_layers = {config.get('audio_dual_ffn_layers')!r} (native: all {layers})"
        )
    for audio, shared in (
        ("audio_ffn_hidden_size", "hidden_size"),
        ("audio_ffn_intermediate_size", "intermediate_size"),
    ):
        if config.get(audio, text.get(shared)) != text.get(shared):
            problems.append(f"{audio} = {config.get(audio)} (native: the text {shared}, {text.get(shared)})")
    if problems:
        raise HiggsLoraError(
            "boson config cannot be expressed in the native layout: " + "; ".join(problems) + "."
        )
    hidden, heads = text["hidden_size"], text["num_attention_heads"]
    rope = dict(text.get("rope_scaling") or {"rope_type": "default"})
    rope["rope_type"] = rope.pop("type", None) or rope.get("rope_type", "default")
    rope["rope_theta"] = text.get("rope_theta", 10000.0)
    native = {k: text[k] for k in _SHARED_TEXT_FIELDS if k in text}
    native.update(
        model_type="higgs_audio_v2",
        architectures=["HiggsAudioV2ForConditionalGeneration"],
        head_dim=text.get("head_dim") or hidden // heads,
        rope_parameters=rope,
        tie_word_embeddings=False,
        pad_token_id=config.get("pad_token_id", 128001),
        bos_token_id=text.get("bos_token_id", 128000),
        eos_token_id=NATIVE_EOS_TOKEN_ID,
        num_codebooks=config.get("audio_num_codebooks", 12),
        codebook_size=config.get("audio_codebook_size", 1024) + 2,
        audio_token_id=config.get("audio_out_token_idx", 128016),
        audio_bos_token_id=config.get("audio_out_bos_token_id", 128013),
        audio_delay_token_id=NATIVE_DELAY_TOKEN_ID,
        audio_stream_bos_id=config.get("audio_stream_bos_id", 1024),
        audio_stream_eos_id=config.get("audio_stream_eos_id", 1025),
    )
    dtype = config.get("torch_dtype") or text.get("torch_dtype")
    if dtype:
        native["dtype"] = dtype
    return native


# HiggsAudioV2Config's defaults (transformers 5.x configuration_higgs_audio_v2.py), for omitted fields.
_NATIVE_DEFAULTS: dict[str, Any] = {
    "vocab_size": 128256,
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 28,
    "num_attention_heads": 24,
    "num_key_value_heads": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-5,
    "pretraining_tp": 1,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "head_dim": 128,
    "pad_token_id": 128001,
    "bos_token_id": 1,
    "eos_token_id": 128009,
    "num_codebooks": 8,
    "codebook_size": 1024,
    "audio_token_id": 128016,
    "audio_bos_token_id": 128013,
    "audio_stream_bos_id": 1024,
    "audio_stream_eos_id": 1025,
    "rope_parameters": {
        "factor": 32.0,
        "rope_theta": 500000.0,
        "high_freq_factor": 0.5,
        "low_freq_factor": 0.125,
        "original_max_position_embeddings": 1024,
        "rope_type": "llama3",
    },
}


def boson_config_from_native(config: dict[str, Any]) -> dict[str, Any]:
    """A boson `HiggsAudioConfig` dict for a native `HiggsAudioV2Config` dict (the reverse mapping)."""
    if config.get("model_type") not in (None, "higgs_audio_v2"):
        raise HiggsLoraError(f"config model_type {config.get('model_type')!r} is not higgs_audio_v2.")
    config = {**_NATIVE_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    text: dict[str, Any] = {k: config[k] for k in _SHARED_TEXT_FIELDS}
    rope = dict(config["rope_parameters"])
    text["rope_theta"] = rope.pop("rope_theta", 10000.0)
    text["rope_scaling"] = None if rope.get("rope_type", "default") == "default" else rope
    text.update(
        model_type="llama",
        head_dim=config["head_dim"],
        bos_token_id=config["bos_token_id"],
        eos_token_id=config["eos_token_id"],
        pad_token_id=config["pad_token_id"],
        tie_word_embeddings=False,
    )
    layers = config["num_hidden_layers"]
    boson = dict(_REQUIRED_BOSON)
    boson.update(
        model_type="higgs_audio",
        architectures=["HiggsAudioModel"],
        text_config=text,
        audio_dual_ffn_layers=list(range(layers)),
        audio_ffn_hidden_size=config["hidden_size"],
        audio_ffn_intermediate_size=config["intermediate_size"],
        encode_whisper_embed=False,
        use_delay_pattern=True,
        audio_num_codebooks=config["num_codebooks"],
        audio_codebook_size=config["codebook_size"] - 2,  # native counts the stream BOS/EOS
        audio_stream_bos_id=config["audio_stream_bos_id"],
        audio_stream_eos_id=config["audio_stream_eos_id"],
        audio_out_token_idx=config["audio_token_id"],
        audio_out_bos_token_id=config["audio_bos_token_id"],
        pad_token_id=config["pad_token_id"],
    )
    if config.get("dtype") or config.get("torch_dtype"):
        boson["torch_dtype"] = config.get("dtype") or config.get("torch_dtype")
    return boson
